// A tiny test harness (no framework download): TEST(name) registers a case, CHECK records a
// failure with the case's seed, main() runs every case (or those whose name contains argv[1])
// and returns non-zero on any failure. Run with SDK_TEST_SEED=<n> to replay one seed.
// A case may call ktest::skip(why) (see TEST_REQUIRES_ARM_NEON in dispatch_hook.h): it is
// reported as "skip", and a run in which no case passed fails.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ktest {

struct Case {
  std::string name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

struct Reg {
  Reg(std::string n, void (*f)()) { registry().push_back({std::move(n), f}); }
};

inline int& failures() {
  static int f = 0;
  return f;
}
inline uint64_t& current_seed() {
  static uint64_t s = 0;
  return s;
}
inline std::string& current_case() {
  static std::string s;
  return s;
}
inline std::string& skip_reason() {
  static std::string s;
  return s;
}

// Marks the running case skipped (say why); its checks so far still count.
inline void skip(const std::string& why) { skip_reason() = why; }

inline uint64_t base_seed() {
  const char* e = std::getenv("SDK_TEST_SEED");
  return e ? std::strtoull(e, nullptr, 10) : 20261124ULL;
}

// Seed for sub-case `i` of the running case: printed on failure so it can be replayed.
inline uint64_t seed_for(uint64_t i) {
  current_seed() = base_seed() * 1000003ULL + i;
  return current_seed();
}

// `what` formats the message; it is called only on failure (a passing CHECK costs a branch).
template <typename What>
inline bool report(bool ok, const char* file, int line, What&& what) {
  if (!ok) {
    if (++failures() <= 20)
      std::fprintf(stderr, "FAIL %s (%s:%d) seed=%llu: %s\n", current_case().c_str(), file, line,
                   static_cast<unsigned long long>(current_seed()), std::string(what()).c_str());
  }
  return ok;
}

inline int run_all(int argc, char** argv) {
  int ran = 0, skipped = 0;
  for (const auto& c : registry()) {
    if (argc > 1 && std::strstr(c.name.c_str(), argv[1]) == nullptr) continue;
    current_case() = c.name;
    current_seed() = base_seed();
    skip_reason().clear();
    const int before = failures();
    const auto t0 = std::chrono::steady_clock::now();
    c.fn();
    const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - t0).count();
    ran++;
    if (failures() != before) {
      std::printf("FAIL %s (%lld ms)\n", c.name.c_str(), ms);
    } else if (!skip_reason().empty()) {
      std::printf("skip %s: %s\n", c.name.c_str(), skip_reason().c_str());
      skipped++;
    } else {
      std::printf("ok   %s (%lld ms)\n", c.name.c_str(), ms);
    }
  }
  std::printf("%d cases, %d failures, %d skipped\n", ran, failures(), skipped);
  return failures() == 0 && ran > skipped ? 0 : 1;
}

}  // namespace ktest

#define KTEST_CAT2(a, b) a##b
#define KTEST_CAT(a, b) KTEST_CAT2(a, b)
#define TEST(name)                                                        \
  static void name();                                                     \
  static ktest::Reg KTEST_CAT(reg_, name)(#name, &name);                  \
  static void name()
#define CHECK(cond, ...)                                                  \
  ktest::report(static_cast<bool>(cond), __FILE__, __LINE__,              \
                [&] { char b[512]; std::snprintf(b, sizeof b, __VA_ARGS__); return std::string(b); })
