// The one dispatch point (src/dispatch/dispatch.cc): every op names the variant this run must
// use (NEON under QEMU on every CPU model, see variants.h), every slot of its table holds that
// function and NEON functions are not the scalar ones; force_scalar() switches every op; and
// the test hook (UseKernels) reaches the drivers without changing what the dispatcher says.
#include <cstring>
#include <string>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"
#include "variants.h"

namespace {

using sdk_kernels::Op;

// What kernel_variant(op) names, without "__scalar" / "__neon". A new Op fails here until it
// gets a row (and a pick test in its own test file).
const char* variant_base(Op op) {
  switch (op) {
    case Op::PreprocessPacked: return "u8_resize_bilinear_normalize_chw";
    case Op::PreprocessNV12: return "nv12_resize_bilinear_normalize_chw";
    case Op::Softmax: return "f32_softmax";
    case Op::TopK: return "f32_topk";
    case Op::DecodeNMS: return "f32_class_max+f32_nms_suppress";
    case Op::Argmax: return "f32_argmax_chw_u8";
    case Op::Binarize: return "f32_binarize_u8";
    default: return nullptr;
  }
}

std::vector<ktest::Slot> every_slot() {
  return {KTEST_SLOT(packed_f32, u8_resize_bilinear_normalize_chw),
          KTEST_SLOT(packed_s8, u8_resize_bilinear_normalize_chw_s8),
          KTEST_SLOT(nv12_f32, nv12_resize_bilinear_normalize_chw),
          KTEST_SLOT(nv12_s8, nv12_resize_bilinear_normalize_chw_s8),
          KTEST_SLOT(softmax, f32_softmax),
          KTEST_SLOT(topk, f32_topk),
          KTEST_SLOT(class_max, f32_class_max),
          KTEST_SLOT(suppress, f32_nms_suppress),
          KTEST_SLOT(argmax, f32_argmax_chw_u8),
          KTEST_SLOT(binarize, f32_binarize_u8)};
}

void every_op_names(const char* isa) {
  for (int i = 0; i < static_cast<int>(Op::Count); i++) {
    const Op op = static_cast<Op>(i);
    const char* base = variant_base(op);
    if (!CHECK(base != nullptr, "op %d (%s) has no expected variant name here", i, sdk_kernels::op_name(op)))
      continue;
    const std::string want = std::string(base) + "__" + isa;
    CHECK(want == sdk_kernels::kernel_variant(op), "kernel_variant(%s) is %s, want %s",
          sdk_kernels::op_name(op), sdk_kernels::kernel_variant(op), want.c_str());
  }
}

void every_slot_holds(bool neon) {
  for (const ktest::Slot& s : every_slot()) {
    if (neon) {
      if (!CHECK(s.neon != nullptr, "%s__neon not compiled in", s.base)) continue;
      CHECK(s.neon != s.scalar, "%s__neon and %s__scalar are one function", s.base, s.base);
      CHECK(s.picked == s.neon, "slot %s does not hold %s__neon", s.slot, s.base);
    } else {
      CHECK(s.picked == s.scalar, "slot %s does not hold %s__scalar", s.slot, s.base);
    }
  }
}

void spy_softmax(const float*, size_t n, float* y) {
  for (size_t i = 0; i < n; i++) y[i] = -42.f;
}

}  // namespace

static ktest::Reg reg_names(std::string("dispatch.every_op_names_") + ktest::expected_isa(), [] {
  if (ktest::expect_neon()) CHECK(ktest::cpu_has_neon(), "the runner expects NEON but AT_HWCAP has none");
  CHECK(std::strcmp(sdk_kernels::cpu_isa(), ktest::expected_isa()) == 0, "cpu_isa() is %s, want %s",
        sdk_kernels::cpu_isa(), ktest::expected_isa());
  every_op_names(ktest::expected_isa());
});

static ktest::Reg reg_slots(std::string("dispatch.every_slot_holds_") + ktest::expected_isa(), [] {
  every_slot_holds(ktest::expect_neon());
  CHECK(ktest::real_dispatch().neon == ktest::expect_neon(), "table says neon=%d",
        int(ktest::real_dispatch().neon));
});

static ktest::Reg reg_force("dispatch.force_scalar_switches_every_op", [] {
  sdk_kernels::force_scalar(true);
  CHECK(std::strcmp(sdk_kernels::cpu_isa(), "scalar") == 0, "forced: cpu_isa() is %s", sdk_kernels::cpu_isa());
  every_op_names("scalar");
  every_slot_holds(false);
  sdk_kernels::force_scalar(false);
  every_op_names(ktest::expected_isa());
  every_slot_holds(ktest::expect_neon());
});

static ktest::Reg reg_hook("dispatch.test_hook_reaches_the_driver_only", [] {
  const std::string before = sdk_kernels::kernel_variant(Op::Softmax);
  float x[5] = {1, 2, 3, 4, 5}, y[5] = {};
  {
    ktest::UseKernels use(&ktest::Dispatch::softmax, &spy_softmax);
    sdk_kernels::softmax_f32(x, 5, y);
    CHECK(y[0] == -42.f && y[4] == -42.f, "softmax_f32 did not run the installed micro-kernel");
    CHECK(before == sdk_kernels::kernel_variant(Op::Softmax), "the hook changed kernel_variant()");
  }
  sdk_kernels::softmax_f32(x, 5, y);
  CHECK(y[0] != -42.f && y[0] > 0.f, "the installed micro-kernel outlived its scope");
});

TEST_MAIN()
