// Small NEON helpers shared by the *_neon.cc files (aarch64 and armv7 NEON + VFPv4).
#pragma once

#include <arm_neon.h>

#include <cstdint>

namespace sdk_kernels {
namespace internal {

// Stores of 4 float results as float or as int8 (ncnn's rounding, internal.h quantize_s8).
inline void store4(float* p, float32x4_t v, float32x4_t) { vst1q_f32(p, v); }

inline void store4(int8_t* p, float32x4_t v, float32x4_t s) {
  float32x4_t q = vmulq_f32(v, s);
  q = vminq_f32(vmaxq_f32(q, vdupq_n_f32(-127.f)), vdupq_n_f32(127.f));
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(q), vdupq_n_u32(0x80000000u));
  const float32x4_t half = vreinterpretq_f32_u32(vorrq_u32(sign, vdupq_n_u32(0x3f000000u)));
  const int32x4_t i = vcvtq_s32_f32(vaddq_f32(q, half));
  const int16x4_t h = vmovn_s32(i);
  const int8x8_t b = vmovn_s16(vcombine_s16(h, h));
  vst1_lane_u32(reinterpret_cast<uint32_t*>(p), vreinterpret_u32_s8(b), 0);
}

// Float compares. On ARMv7, GCC's arm_neon.h writes vcgtq_f32 / vcleq_f32 / vceqq_f32 as generic
// vector compares, which GCC (no -ffast-math) lowers to four scalar VFP compares + moves;
// VCGT/VCGE/VCEQ.F32 are one instruction each (ARMv7 NEON flushes denormals to zero, as its
// VMAX does).
#if defined(__aarch64__)
inline uint32x4_t cgtq_f32(float32x4_t a, float32x4_t b) { return vcgtq_f32(a, b); }
inline uint32x4_t cgeq_f32(float32x4_t a, float32x4_t b) { return vcgeq_f32(a, b); }
inline uint32x4_t ceqq_f32(float32x4_t a, float32x4_t b) { return vceqq_f32(a, b); }
#else
#define SDK_NEON_FCMP(name, insn)                                          \
  inline uint32x4_t name(float32x4_t a, float32x4_t b) {                   \
    uint32x4_t r;                                                          \
    __asm__(insn " %q0, %q1, %q2" : "=w"(r) : "w"(a), "w"(b));             \
    return r;                                                              \
  }
SDK_NEON_FCMP(cgtq_f32, "vcgt.f32")
SDK_NEON_FCMP(cgeq_f32, "vcge.f32")
SDK_NEON_FCMP(ceqq_f32, "vceq.f32")
#undef SDK_NEON_FCMP
#endif
inline uint32x4_t cleq_f32(float32x4_t a, float32x4_t b) { return cgeq_f32(b, a); }
inline uint32x4_t cltq_f32(float32x4_t a, float32x4_t b) { return cgtq_f32(b, a); }

// Whether any lane of a comparison mask is set. vmaxvq_u32 is AArch64-only; ARMv7 NEON folds
// the halves with vorr + vpmax.
inline bool any_lane(uint32x4_t m) {
#if defined(__aarch64__)
  return vmaxvq_u32(m) != 0;
#else
  const uint32x2_t o = vorr_u32(vget_low_u32(m), vget_high_u32(m));
  return vget_lane_u32(vpmax_u32(o, o), 0) != 0;
#endif
}

// Argmax down `rows` rows (`stride` floats apart) of 8 or 4 adjacent columns starting at `p`:
// the running maximum and its row index. Strictly greater wins, so the first row keeps ties,
// as in the scalar reference. Shared by the detection class-max and segmentation argmax.
struct RowArgmax8 {
  float32x4_t b0, b1;
  uint32x4_t k0, k1;
};
struct RowArgmax4 {
  float32x4_t b;
  uint32x4_t k;
};

inline RowArgmax8 row_argmax8(const float* p, size_t rows, size_t stride) {
  const uint32x4_t one = vdupq_n_u32(1);
  RowArgmax8 r{vld1q_f32(p), vld1q_f32(p + 4), vdupq_n_u32(0), vdupq_n_u32(0)};
  uint32x4_t cur = vdupq_n_u32(0);
  for (size_t j = 1; j < rows; j++) {
    p += stride;
    cur = vaddq_u32(cur, one);
    const float32x4_t v0 = vld1q_f32(p), v1 = vld1q_f32(p + 4);
    const uint32x4_t m0 = cgtq_f32(v0, r.b0), m1 = cgtq_f32(v1, r.b1);
    r.b0 = vbslq_f32(m0, v0, r.b0);
    r.b1 = vbslq_f32(m1, v1, r.b1);
    r.k0 = vbslq_u32(m0, cur, r.k0);
    r.k1 = vbslq_u32(m1, cur, r.k1);
  }
  return r;
}

inline RowArgmax4 row_argmax4(const float* p, size_t rows, size_t stride) {
  const uint32x4_t one = vdupq_n_u32(1);
  RowArgmax4 r{vld1q_f32(p), vdupq_n_u32(0)};
  uint32x4_t cur = vdupq_n_u32(0);
  for (size_t j = 1; j < rows; j++) {
    p += stride;
    cur = vaddq_u32(cur, one);
    const float32x4_t v = vld1q_f32(p);
    const uint32x4_t m = cgtq_f32(v, r.b);
    r.b = vbslq_f32(m, v, r.b);
    r.k = vbslq_u32(m, cur, r.k);
  }
  return r;
}

}  // namespace internal
}  // namespace sdk_kernels
