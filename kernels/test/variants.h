// Naming and running one micro-kernel variant per test case (XNNPACK's testers take the
// micro-kernel; a test that goes through the dispatcher cannot tell which variant it tested).
//
//  - KERNEL_TEST(kernel, case, body) registers "kernel.case" and runs body(&kernel): the name
//    and the function pointer come from the same token. NEON_KERNEL_TEST is for NEON variants:
//    use it inside #if defined(SDK_KERNELS_HAVE_NEON) (the symbols exist only there); it starts
//    with TEST_REQUIRES_ARM_NEON. KERNEL_TEST2 does the same for a pair of micro-kernels.
//  - UseKernels (one at a time, scoped) installs a table (every slot the scalar reference,
//    then the slots a tester sets) that the real driver of the op reads, so a tester runs the production driver
//    (tables, letterbox, row loops, workspace) with exactly the variant it names. Mechanism:
//    the test executables link with -Wl,--wrap=<sdk_kernels::internal::dispatch()>
//    (kernels/CMakeLists.txt) and variants.cc defines the wrapper; the library is untouched.
//    dispatch.cc's own callers (kernel_variant, cpu_isa) keep the real table, since --wrap only
//    redirects references that are undefined in the referencing object.
//  - expect_neon(): whether the dispatcher must pick NEON in this run. ctest under QEMU sets
//    SDK_TEST_EXPECT_ISA=neon (every SDK_QEMU_CPUS model has NEON), so there a CPU or a build
//    without NEON fails instead of skipping. An ARM build without the NEON variants always
//    fails (case build.has_neon_variants).
#pragma once

#include <initializer_list>
#include <string>

#include "../src/internal.h"
#include "sdk_kernels/kernels.h"
#include "tester.h"

namespace ktest {

using sdk_kernels::internal::Dispatch;

// ------------------------------------------------------------------ which variant must run

// The test's own reading of the CPU (AT_HWCAP: HWCAP_ASIMD / HWCAP_NEON), not dispatch.cc's.
bool cpu_has_neon();
// SDK_TEST_EXPECT_ISA ("neon" or "scalar") if the runner set it, else nullptr.
const char* runner_expected_isa();
// The runner's word if given, else NEON exactly when an ARM CPU reports it.
bool expect_neon();
inline const char* expected_isa() { return expect_neon() ? "neon" : "scalar"; }

// TEST_REQUIRES_ARM_NEON: true if the CPU has NEON. Otherwise a failure when the runner
// expects NEON, else the case is skipped (CPU lacks NEON).
bool require_neon();
#define TEST_REQUIRES_ARM_NEON           \
  do {                                   \
    if (!ktest::require_neon()) return;  \
  } while (0)

// ------------------------------------------------------------------ the table drivers read

// Every slot the scalar reference of its op (the specification).
Dispatch scalar_table();
// What sdk_kernels::internal::dispatch() returns without a UseKernels in scope.
const Dispatch& real_dispatch();
void install_table(const Dispatch* table);  // nullptr: back to the real dispatcher
const Dispatch* installed_table();
unsigned long long table_reads();  // dispatch() calls answered from an installed table

class UseKernels {
 public:
  UseKernels() : table_(scalar_table()), reads_(table_reads()) { install_table(&table_); }
  template <typename F>
  UseKernels(F Dispatch::*slot, F fn) : UseKernels() { set(slot, fn); }
  template <typename F>
  UseKernels& set(F Dispatch::*slot, F fn) {
    table_.*slot = fn;
    return *this;
  }
  ~UseKernels() {
    const bool read = table_reads() > reads_;
    install_table(nullptr);
    CHECK(read, "the driver never read the installed kernel table (test not linked with "
                "-Wl,--wrap for sdk_kernels::internal::dispatch?)");
  }
  UseKernels(const UseKernels&) = delete;
  UseKernels& operator=(const UseKernels&) = delete;

 private:
  Dispatch table_;
  unsigned long long reads_;
};

// ------------------------------------------------------------------ the dispatcher's pick

// One slot of the real table: what it holds and the two variants it may hold.
struct Slot {
  const char* slot;   // Dispatch member
  const char* base;   // micro-kernel name without "__scalar" / "__neon"
  const void* picked;
  const void* scalar;
  const void* neon;   // nullptr in builds without NEON
};
#if defined(SDK_KERNELS_HAVE_NEON)
#define KTEST_NEON_PTR(base) reinterpret_cast<const void*>(&sdk_kernels::internal::base##__neon)
#else
#define KTEST_NEON_PTR(base) nullptr
#endif
#define KTEST_SLOT(member, base)                                                    \
  ktest::Slot {                                                                     \
    #member, #base, reinterpret_cast<const void*>(ktest::real_dispatch().member),   \
        reinterpret_cast<const void*>(&sdk_kernels::internal::base##__scalar),       \
        KTEST_NEON_PTR(base)                                                        \
  }

// "<variant>.picked_by_dispatcher" with the variant this run must pick, e.g.
// "f32_softmax__neon.picked_by_dispatcher".
std::string pick_case_name(const char* variant_base);
// kernel_variant(op) == variant_base + "__" + expected_isa(), cpu_isa() agrees, every slot of
// the real table holds that variant, and the NEON function is not the scalar one.
void check_pick(sdk_kernels::Op op, const char* variant_base, std::initializer_list<Slot> slots);

}  // namespace ktest

#define KERNEL_TEST(kernel, case_name, body)                                          \
  static ktest::Reg KTEST_CAT(kreg_, __COUNTER__)(#kernel "." #case_name,             \
                                                 [] { body(&sdk_kernels::internal::kernel); })
#define KERNEL_TEST2(k1, k2, case_name, body)                                         \
  static ktest::Reg KTEST_CAT(kreg_, __COUNTER__)(#k1 "+" #k2 "." #case_name, [] {    \
    body(&sdk_kernels::internal::k1, &sdk_kernels::internal::k2);                     \
  })
#if defined(SDK_KERNELS_HAVE_NEON)
#define NEON_KERNEL_TEST(kernel, case_name, body)                                     \
  static ktest::Reg KTEST_CAT(kreg_, __COUNTER__)(#kernel "." #case_name, [] {        \
    TEST_REQUIRES_ARM_NEON;                                                           \
    body(&sdk_kernels::internal::kernel);                                             \
  })
#define NEON_KERNEL_TEST2(k1, k2, case_name, body)                                    \
  static ktest::Reg KTEST_CAT(kreg_, __COUNTER__)(#k1 "+" #k2 "." #case_name, [] {    \
    TEST_REQUIRES_ARM_NEON;                                                           \
    body(&sdk_kernels::internal::k1, &sdk_kernels::internal::k2);                     \
  })
#endif
// The dispatcher's pick for one op: registered as pick_case_name(variant_base).
#define DISPATCH_PICK_TEST(op, variant_base, ...)                                     \
  static ktest::Reg KTEST_CAT(kreg_, __COUNTER__)(ktest::pick_case_name(variant_base), \
                                                 [] { ktest::check_pick(op, variant_base, {__VA_ARGS__}); })

// Prints what runs (dispatcher's pick, the CPU, what the runner expects) before the cases.
int kernel_test_main(int argc, char** argv);
#define TEST_MAIN() \
  int main(int argc, char** argv) { return kernel_test_main(argc, argv); }
