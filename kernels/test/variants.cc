// Test-only support for variants.h, linked into every kernel test executable.
#include "variants.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

using sdk_kernels::Op;
using sdk_kernels::internal::Dispatch;

namespace {
const Dispatch* g_table = nullptr;
unsigned long long g_reads = 0;
}  // namespace

// The drivers' calls of sdk_kernels::internal::dispatch() land here (-Wl,--wrap=<its mangled
// name>, kernels/CMakeLists.txt); __real_ is the library's function.
extern "C" const Dispatch& __real__ZN11sdk_kernels8internal8dispatchEv();
extern "C" const Dispatch& __wrap__ZN11sdk_kernels8internal8dispatchEv() {
  if (g_table != nullptr) {
    ++g_reads;
    return *g_table;
  }
  return __real__ZN11sdk_kernels8internal8dispatchEv();
}

namespace ktest {

bool cpu_has_neon() {
#if defined(__aarch64__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & (1UL << 1)) != 0;  // HWCAP_ASIMD
#elif defined(__arm__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & (1UL << 12)) != 0;  // HWCAP_NEON
#elif defined(__aarch64__) || defined(__ARM_NEON)
  return true;
#else
  return false;
#endif
}

const char* runner_expected_isa() {
  const char* e = std::getenv("SDK_TEST_EXPECT_ISA");
  return e != nullptr && *e != '\0' ? e : nullptr;
}

bool expect_neon() {
  if (const char* e = runner_expected_isa()) return std::strcmp(e, "neon") == 0;
#if defined(__aarch64__) || defined(__arm__)
  return cpu_has_neon();
#else
  return false;
#endif
}

bool require_neon() {
  if (cpu_has_neon()) return true;
  if (expect_neon()) {
    CHECK(false, "the runner expects NEON (SDK_TEST_EXPECT_ISA=%s) but AT_HWCAP has no NEON",
          runner_expected_isa() ? runner_expected_isa() : "?");
  } else {
    skip("CPU lacks NEON (AT_HWCAP)");
  }
  return false;
}

Dispatch scalar_table() {
  namespace ki = sdk_kernels::internal;
  Dispatch d{};
  d.packed_f32 = ki::u8_resize_bilinear_normalize_chw__scalar;
  d.packed_s8 = ki::u8_resize_bilinear_normalize_chw_s8__scalar;
  d.nv12_f32 = ki::nv12_resize_bilinear_normalize_chw__scalar;
  d.nv12_s8 = ki::nv12_resize_bilinear_normalize_chw_s8__scalar;
  d.softmax = ki::f32_softmax__scalar;
  d.topk = ki::f32_topk__scalar;
  d.class_max = ki::f32_class_max__scalar;
  d.suppress = ki::f32_nms_suppress__scalar;
  d.argmax = ki::f32_argmax_chw_u8__scalar;
  d.binarize = ki::f32_binarize_u8__scalar;
  d.neon = false;
  return d;
}

const Dispatch& real_dispatch() { return __real__ZN11sdk_kernels8internal8dispatchEv(); }
void install_table(const Dispatch* table) { g_table = table; }
const Dispatch* installed_table() { return g_table; }
unsigned long long table_reads() { return g_reads; }

std::string pick_case_name(const char* variant_base) {
  return std::string(variant_base) + "__" + expected_isa() + ".picked_by_dispatcher";
}

void check_pick(Op op, const char* variant_base, std::initializer_list<Slot> slots) {
  const bool neon = expect_neon();
  const std::string want = std::string(variant_base) + "__" + expected_isa();
  CHECK(installed_table() == nullptr, "a test table is still installed");
  if (neon) CHECK(cpu_has_neon(), "the runner expects NEON but AT_HWCAP has no NEON");
  CHECK(std::strcmp(sdk_kernels::cpu_isa(), expected_isa()) == 0, "cpu_isa() is %s, want %s",
        sdk_kernels::cpu_isa(), expected_isa());
  CHECK(want == sdk_kernels::kernel_variant(op), "kernel_variant(%s) is %s, want %s",
        sdk_kernels::op_name(op), sdk_kernels::kernel_variant(op), want.c_str());
  for (const Slot& s : slots) {
    CHECK(s.scalar != nullptr, "%s: no scalar reference", s.slot);
    if (neon) {
      if (!CHECK(s.neon != nullptr, "%s: %s__neon not compiled in", s.slot, s.base)) continue;
      CHECK(s.neon != s.scalar, "%s: %s__neon and %s__scalar are one function", s.slot, s.base,
            s.base);
      CHECK(s.picked == s.neon, "dispatch table slot %s does not hold %s__neon", s.slot, s.base);
    } else {
      CHECK(s.picked == s.scalar, "dispatch table slot %s does not hold %s__scalar", s.slot,
            s.base);
    }
  }
  CHECK(real_dispatch().neon == neon, "dispatch table says neon=%d, want %d",
        int(real_dispatch().neon), int(neon));
}

}  // namespace ktest

#if (defined(__aarch64__) || defined(__arm__)) && !defined(SDK_KERNELS_HAVE_NEON)
// An ARM build without the NEON variants would pass every scalar case and test no NEON: fail.
static ktest::Reg neon_build_reg("build.has_neon_variants", [] {
  CHECK(false, "ARM target built without the NEON variants (SDK_KERNELS_NEON=OFF)");
});
#endif

int kernel_test_main(int argc, char** argv) {
  const char* cpu = std::getenv("SDK_TEST_CPU");
  const char* want = ktest::runner_expected_isa();
#if defined(__aarch64__) || defined(__arm__)
  const char* hw = ktest::cpu_has_neon() ? "CPU has NEON (AT_HWCAP)" : "CPU lacks NEON (AT_HWCAP)";
#else
  const char* hw = "not an ARM CPU";
#endif
  std::printf("isa: %s (dispatcher), %s, qemu -cpu %s, expected %s%s\n", sdk_kernels::cpu_isa(),
              hw, cpu ? cpu : "-", ktest::expected_isa(), want ? " (SDK_TEST_EXPECT_ISA)" : "");
  return ktest::run_all(argc, argv);
}
