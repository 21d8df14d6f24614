// NEON: argmax over channels 8/4 pixels per iteration; binarise 16/8/4 per iteration; then
// the scalar tail. Bit-exact with the reference.
#include "../internal.h"
#include "../neon_util.h"

namespace sdk_kernels {
namespace internal {

void f32_argmax_chw_u8__neon(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                             size_t begin) {
  size_t i = begin;
  for (; i + 8 <= w; i += 8) {
    const RowArgmax8 r = row_argmax8(x + i, c, ps);
    vst1_u8(out + i, vmovn_u16(vcombine_u16(vmovn_u32(r.k0), vmovn_u32(r.k1))));
  }
  for (; i + 4 <= w; i += 4) {
    const uint16x4_t h = vmovn_u32(row_argmax4(x + i, c, ps).k);
    const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
    vst1_lane_u32(reinterpret_cast<uint32_t*>(out + i), vreinterpret_u32_u8(b), 0);
  }
  f32_argmax_chw_u8__scalar(x, c, w, ps, out, i);
}

void f32_binarize_u8__neon(const float* p, size_t n, float thr, uint8_t* m, size_t begin) {
  const float32x4_t t = vdupq_n_f32(thr);
  size_t i = begin;
  for (; i + 16 <= n; i += 16) {
    const uint16x8_t a = vcombine_u16(vmovn_u32(cgtq_f32(vld1q_f32(p + i), t)),
                                      vmovn_u32(cgtq_f32(vld1q_f32(p + i + 4), t)));
    const uint16x8_t b = vcombine_u16(vmovn_u32(cgtq_f32(vld1q_f32(p + i + 8), t)),
                                      vmovn_u32(cgtq_f32(vld1q_f32(p + i + 12), t)));
    vst1q_u8(m + i, vcombine_u8(vmovn_u16(a), vmovn_u16(b)));
  }
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t a = vcombine_u16(vmovn_u32(cgtq_f32(vld1q_f32(p + i), t)),
                                      vmovn_u32(cgtq_f32(vld1q_f32(p + i + 4), t)));
    vst1_u8(m + i, vmovn_u16(a));
  }
  for (; i + 4 <= n; i += 4) {
    const uint16x4_t h = vmovn_u32(cgtq_f32(vld1q_f32(p + i), t));
    const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
    vst1_lane_u32(reinterpret_cast<uint32_t*>(m + i), vreinterpret_u32_u8(b), 0);
  }
  f32_binarize_u8__scalar(p, n, thr, m, i);
}

}  // namespace internal
}  // namespace sdk_kernels
