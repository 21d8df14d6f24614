// NEON: argmax over channels 8/4 pixels per iteration; binarise 16/8/4 per iteration; then
// the scalar tail. Bit-exact with the reference.
#include "../internal.h"
#include "../neon_util.h"

namespace sdk_kernels {
namespace internal {

void f32_argmax_chw_u8__neon(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                             size_t begin) {
  size_t i = begin;
  const uint32x4_t one = vdupq_n_u32(1);
  for (; i + 8 <= w; i += 8) {
    float32x4_t b0 = vld1q_f32(x + i), b1 = vld1q_f32(x + i + 4);
    uint32x4_t k0 = vdupq_n_u32(0), k1 = k0, cur = k0;
    const float* p = x + i;
    for (size_t j = 1; j < c; j++) {
      p += ps;
      cur = vaddq_u32(cur, one);
      const float32x4_t v0 = vld1q_f32(p), v1 = vld1q_f32(p + 4);
      const uint32x4_t m0 = vcgtq_f32(v0, b0), m1 = vcgtq_f32(v1, b1);
      b0 = vbslq_f32(m0, v0, b0);
      b1 = vbslq_f32(m1, v1, b1);
      k0 = vbslq_u32(m0, cur, k0);
      k1 = vbslq_u32(m1, cur, k1);
    }
    vst1_u8(out + i, vmovn_u16(vcombine_u16(vmovn_u32(k0), vmovn_u32(k1))));
  }
  for (; i + 4 <= w; i += 4) {
    float32x4_t b0 = vld1q_f32(x + i);
    uint32x4_t k0 = vdupq_n_u32(0), cur = k0;
    const float* p = x + i;
    for (size_t j = 1; j < c; j++) {
      p += ps;
      cur = vaddq_u32(cur, one);
      const float32x4_t v0 = vld1q_f32(p);
      const uint32x4_t m0 = vcgtq_f32(v0, b0);
      b0 = vbslq_f32(m0, v0, b0);
      k0 = vbslq_u32(m0, cur, k0);
    }
    const uint16x4_t h = vmovn_u32(k0);
    const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
    vst1_lane_u32(reinterpret_cast<uint32_t*>(out + i), vreinterpret_u32_u8(b), 0);
  }
  f32_argmax_chw_u8__scalar(x, c, w, ps, out, i);
}

void f32_binarize_u8__neon(const float* p, size_t n, float thr, uint8_t* m, size_t begin) {
  const float32x4_t t = vdupq_n_f32(thr);
  size_t i = begin;
  for (; i + 16 <= n; i += 16) {
    const uint16x8_t a = vcombine_u16(vmovn_u32(vcgtq_f32(vld1q_f32(p + i), t)),
                                      vmovn_u32(vcgtq_f32(vld1q_f32(p + i + 4), t)));
    const uint16x8_t b = vcombine_u16(vmovn_u32(vcgtq_f32(vld1q_f32(p + i + 8), t)),
                                      vmovn_u32(vcgtq_f32(vld1q_f32(p + i + 12), t)));
    vst1q_u8(m + i, vcombine_u8(vmovn_u16(a), vmovn_u16(b)));
  }
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t a = vcombine_u16(vmovn_u32(vcgtq_f32(vld1q_f32(p + i), t)),
                                      vmovn_u32(vcgtq_f32(vld1q_f32(p + i + 4), t)));
    vst1_u8(m + i, vmovn_u16(a));
  }
  for (; i + 4 <= n; i += 4) {
    const uint16x4_t h = vmovn_u32(vcgtq_f32(vld1q_f32(p + i), t));
    const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
    vst1_lane_u32(reinterpret_cast<uint32_t*>(m + i), vreinterpret_u32_u8(b), 0);
  }
  f32_binarize_u8__scalar(p, n, thr, m, i);
}

}  // namespace internal
}  // namespace sdk_kernels
