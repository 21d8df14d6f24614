// The one dispatch point: picks each op's variant from the CPU features at run time
// (getauxval(AT_HWCAP): HWCAP_ASIMD on aarch64, HWCAP_NEON on 32-bit ARM) and names it.
#include "../internal.h"

#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

namespace sdk_kernels {
namespace internal {
namespace {

bool g_force_scalar = false;

bool cpu_has_neon() {
#if !defined(SDK_KERNELS_HAVE_NEON)
  return false;
#elif defined(__aarch64__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & (1UL << 1)) != 0;  // HWCAP_ASIMD
#elif defined(__arm__) && defined(__linux__)
  return (getauxval(AT_HWCAP) & (1UL << 12)) != 0;  // HWCAP_NEON
#else
  return true;  // NEON compiled in and no way to ask: the build targeted it
#endif
}

Dispatch make(bool neon) {
  Dispatch d{};
  d.packed_f32 = u8_resize_bilinear_normalize_chw__scalar;
  d.packed_s8 = u8_resize_bilinear_normalize_chw_s8__scalar;
  d.nv12_f32 = nv12_resize_bilinear_normalize_chw__scalar;
  d.nv12_s8 = nv12_resize_bilinear_normalize_chw_s8__scalar;
  d.softmax = f32_softmax__scalar;
  d.topk = f32_topk__scalar;
  d.class_max = f32_class_max__scalar;
  d.suppress = f32_nms_suppress__scalar;
  d.argmax = f32_argmax_chw_u8__scalar;
  d.binarize = f32_binarize_u8__scalar;
  d.neon = false;
#if defined(SDK_KERNELS_HAVE_NEON)
  if (neon) {
    d.packed_f32 = u8_resize_bilinear_normalize_chw__neon;
    d.packed_s8 = u8_resize_bilinear_normalize_chw_s8__neon;
    d.nv12_f32 = nv12_resize_bilinear_normalize_chw__neon;
    d.nv12_s8 = nv12_resize_bilinear_normalize_chw_s8__neon;
    d.softmax = f32_softmax__neon;
    d.topk = f32_topk__neon;
    d.class_max = f32_class_max__neon;
    d.suppress = f32_nms_suppress__neon;
    d.argmax = f32_argmax_chw_u8__neon;
    d.binarize = f32_binarize_u8__neon;
    d.neon = true;
  }
#else
  (void)neon;
#endif
  return d;
}

}  // namespace

const Dispatch& dispatch() {
  static const Dispatch neon = make(cpu_has_neon());
  static const Dispatch scalar = make(false);
  return g_force_scalar ? scalar : neon;
}

}  // namespace internal

void force_scalar(bool on) { internal::g_force_scalar = on; }

const char* cpu_isa() { return internal::dispatch().neon ? "neon" : "scalar"; }

const char* op_name(Op op) {
  switch (op) {
    case Op::PreprocessPacked: return "preprocess (BGR/RGB/RGBA/GRAY)";
    case Op::PreprocessNV12: return "preprocess (NV12/NV21)";
    case Op::Softmax: return "softmax";
    case Op::TopK: return "topk";
    case Op::DecodeNMS: return "decode_nms";
    case Op::Argmax: return "argmax";
    case Op::Binarize: return "binarize";
    default: return "?";
  }
}

const char* kernel_variant(Op op) {
  const bool n = internal::dispatch().neon;
  switch (op) {
    case Op::PreprocessPacked:
      return n ? "u8_resize_bilinear_normalize_chw__neon" : "u8_resize_bilinear_normalize_chw__scalar";
    case Op::PreprocessNV12:
      return n ? "nv12_resize_bilinear_normalize_chw__neon"
               : "nv12_resize_bilinear_normalize_chw__scalar";
    case Op::Softmax: return n ? "f32_softmax__neon" : "f32_softmax__scalar";
    case Op::TopK: return n ? "f32_topk__neon" : "f32_topk__scalar";
    case Op::DecodeNMS:
      return n ? "f32_class_max+f32_nms_suppress__neon" : "f32_class_max+f32_nms_suppress__scalar";
    case Op::Argmax: return n ? "f32_argmax_chw_u8__neon" : "f32_argmax_chw_u8__scalar";
    case Op::Binarize: return n ? "f32_binarize_u8__neon" : "f32_binarize_u8__scalar";
    default: return "?";
  }
}

}  // namespace sdk_kernels
