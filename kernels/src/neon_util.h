// Small NEON helpers shared by the *_neon.cc files (aarch64 and armv7 NEON + VFPv4).
#pragma once

#include <arm_neon.h>

#include <cstdint>

namespace sdk_kernels {
namespace internal {

// Bilinear vertical blend of 8 bytes, modulo 2^16: (a << 8) + b * wy - a * wy.
inline uint16x8_t vblend8(uint8x8_t a, uint8x8_t b, uint8x8_t wy) {
  uint16x8_t v = vshll_n_u8(a, 8);
  v = vmlal_u8(v, b, wy);
  return vmlsl_u8(v, a, wy);
}

// Byte indices that gather u16 lane `l` and lane `r` of four pixel registers into
// [l(p0) l(p1) l(p2) l(p3) r(p0) r(p1) r(p2) r(p3)].
struct GatherIndex {
#if defined(__aarch64__)
  uint8x16_t idx;
#else
  uint8x8_t idx;  // for vtbl4 over two pixels: [l(a) l(b) r(a) r(b)]
#endif
};

inline GatherIndex make_gather(unsigned l, unsigned r) {
  GatherIndex g;
#if defined(__aarch64__)
  uint8_t t[16];
  for (unsigned k = 0; k < 4; k++) {
    t[2 * k] = static_cast<uint8_t>(16 * k + 2 * l);
    t[2 * k + 1] = static_cast<uint8_t>(16 * k + 2 * l + 1);
    t[8 + 2 * k] = static_cast<uint8_t>(16 * k + 2 * r);
    t[8 + 2 * k + 1] = static_cast<uint8_t>(16 * k + 2 * r + 1);
  }
  g.idx = vld1q_u8(t);
#else
  const uint8_t t[8] = {static_cast<uint8_t>(2 * l), static_cast<uint8_t>(2 * l + 1),
                        static_cast<uint8_t>(16 + 2 * l), static_cast<uint8_t>(16 + 2 * l + 1),
                        static_cast<uint8_t>(2 * r), static_cast<uint8_t>(2 * r + 1),
                        static_cast<uint8_t>(16 + 2 * r), static_cast<uint8_t>(16 + 2 * r + 1)};
  g.idx = vld1_u8(t);
#endif
  return g;
}

// The four pixel registers, as one tbl table.
#if defined(__aarch64__)
using Pixels4 = uint8x16x4_t;
#else
struct Pixels4 {
  uint8x8x4_t a, b;
};
#endif

inline Pixels4 pixels4(uint16x8_t p0, uint16x8_t p1, uint16x8_t p2, uint16x8_t p3) {
  Pixels4 t;
#if defined(__aarch64__)
  t.val[0] = vreinterpretq_u8_u16(p0);
  t.val[1] = vreinterpretq_u8_u16(p1);
  t.val[2] = vreinterpretq_u8_u16(p2);
  t.val[3] = vreinterpretq_u8_u16(p3);
#else
  t.a.val[0] = vreinterpret_u8_u16(vget_low_u16(p0));
  t.a.val[1] = vreinterpret_u8_u16(vget_high_u16(p0));
  t.a.val[2] = vreinterpret_u8_u16(vget_low_u16(p1));
  t.a.val[3] = vreinterpret_u8_u16(vget_high_u16(p1));
  t.b.val[0] = vreinterpret_u8_u16(vget_low_u16(p2));
  t.b.val[1] = vreinterpret_u8_u16(vget_high_u16(p2));
  t.b.val[2] = vreinterpret_u8_u16(vget_low_u16(p3));
  t.b.val[3] = vreinterpret_u8_u16(vget_high_u16(p3));
#endif
  return t;
}

inline uint16x8_t gather(const Pixels4& t, const GatherIndex& g) {
#if defined(__aarch64__)
  return vreinterpretq_u16_u8(vqtbl4q_u8(t, g.idx));
#else
  const uint8x8x4_t& a = t.a;
  const uint8x8x4_t& b = t.b;
  const uint32x2x2_t z = vzip_u32(vreinterpret_u32_u8(vtbl4_u8(a, g.idx)),
                                  vreinterpret_u32_u8(vtbl4_u8(b, g.idx)));
  return vreinterpretq_u16_u32(vcombine_u32(z.val[0], z.val[1]));
#endif
}

// [l0..3 r0..3] . [wl0..3 wr0..3] -> l * wl + r * wr as float (u32 exact, then converted).
inline float32x4_t hblend(uint16x8_t g, uint16x8_t w) {
  uint32x4_t acc = vmull_u16(vget_low_u16(g), vget_low_u16(w));
#if defined(__aarch64__)
  acc = vmlal_high_u16(acc, g, w);
#else
  acc = vmlal_u16(acc, vget_high_u16(g), vget_high_u16(w));
#endif
  return vcvtq_f32_u32(acc);
}

// Per pixel [l r] pairs times interleaved weights [wl wr]: l * wl + r * wr for 4 pixels.
inline float32x4_t hblend_pairs(uint16x8_t v, uint16x8_t w) {
  const uint32x4_t a = vmull_u16(vget_low_u16(v), vget_low_u16(w));
#if defined(__aarch64__)
  const uint32x4_t b = vmull_high_u16(v, w);
  return vcvtq_f32_u32(vpaddq_u32(a, b));
#else
  const uint32x4_t b = vmull_u16(vget_high_u16(v), vget_high_u16(w));
  return vcvtq_f32_u32(vcombine_u32(vpadd_u32(vget_low_u32(a), vget_high_u32(a)),
                                    vpadd_u32(vget_low_u32(b), vget_high_u32(b))));
#endif
}

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
