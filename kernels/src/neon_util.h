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
    const uint32x4_t m0 = vcgtq_f32(v0, r.b0), m1 = vcgtq_f32(v1, r.b1);
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
    const uint32x4_t m = vcgtq_f32(v, r.b);
    r.b = vbslq_f32(m, v, r.b);
    r.k = vbslq_u32(m, cur, r.k);
  }
  return r;
}

}  // namespace internal
}  // namespace sdk_kernels
