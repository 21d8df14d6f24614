// A tiny test harness (no framework download): TEST(name) registers a case, CHECK records a
// failure with the case's seed, main() runs every case (or those matching argv[1]) and
// returns non-zero on any failure. Run with SDK_TEST_SEED=<n> to replay one seed.
#pragma once

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
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

struct Reg {
  Reg(const char* n, void (*f)()) { registry().push_back({n, f}); }
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

inline uint64_t base_seed() {
  const char* e = std::getenv("SDK_TEST_SEED");
  return e ? std::strtoull(e, nullptr, 10) : 20261124ULL;
}

// Seed for sub-case `i` of the running case: printed on failure so it can be replayed.
inline uint64_t seed_for(uint64_t i) {
  current_seed() = base_seed() * 1000003ULL + i;
  return current_seed();
}

inline bool report(bool ok, const char* file, int line, const std::string& what) {
  if (!ok) {
    if (++failures() <= 20)
      std::fprintf(stderr, "FAIL %s (%s:%d) seed=%llu: %s\n", current_case().c_str(), file, line,
                   static_cast<unsigned long long>(current_seed()), what.c_str());
  }
  return ok;
}

inline int run_all(int argc, char** argv) {
  int ran = 0;
  for (const auto& c : registry()) {
    if (argc > 1 && std::strstr(c.name, argv[1]) == nullptr) continue;
    current_case() = c.name;
    const int before = failures();
    c.fn();
    std::printf("%s %s\n", failures() == before ? "ok  " : "FAIL", c.name);
    ran++;
  }
  std::printf("%d cases, %d failures\n", ran, failures());
  return failures() == 0 && ran > 0 ? 0 : 1;
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
                [&] { char b[512]; std::snprintf(b, sizeof b, __VA_ARGS__); return std::string(b); }())
// Prints which variant the dispatcher picked (cpu_isa()) so a log shows what was tested.
#define TEST_MAIN()                                                     \
  int main(int argc, char** argv) {                                     \
    std::printf("isa: %s\n", sdk_kernels::cpu_isa());                   \
    return ktest::run_all(argc, argv);                                  \
  }
