// NEON: best class of 8/4 boxes per iteration across the class rows; IoU of one box against
// 4 boxes per iteration. Then the scalar tail. Bit-exact with the reference.
#include "../internal.h"
#include "../neon_util.h"

namespace sdk_kernels {
namespace internal {

void f32_class_max__neon(const float* s, size_t n, size_t c, size_t stride, float* best,
                         int32_t* cls, size_t begin) {
  size_t i = begin;
  for (; i + 8 <= n; i += 8) {
    const RowArgmax8 r = row_argmax8(s + i, c, stride);
    vst1q_f32(best + i, r.b0);
    vst1q_f32(best + i + 4, r.b1);
    vst1q_s32(cls + i, vreinterpretq_s32_u32(r.k0));
    vst1q_s32(cls + i + 4, vreinterpretq_s32_u32(r.k1));
  }
  for (; i + 4 <= n; i += 4) {
    const RowArgmax4 r = row_argmax4(s + i, c, stride);
    vst1q_f32(best + i, r.b);
    vst1q_s32(cls + i, vreinterpretq_s32_u32(r.k));
  }
  f32_class_max__scalar(s, n, c, stride, best, cls, i);
}

void f32_iou_suppress__neon(const float* x1, const float* y1, const float* x2,
                            const float* y2, const float* area, size_t i, size_t begin,
                            size_t n, float thr, uint8_t* suppressed) {
  const float32x4_t ax1 = vdupq_n_f32(x1[i]), ay1 = vdupq_n_f32(y1[i]);
  const float32x4_t ax2 = vdupq_n_f32(x2[i]), ay2 = vdupq_n_f32(y2[i]);
  const float32x4_t aa = vdupq_n_f32(area[i]), t = vdupq_n_f32(thr);
  const float32x4_t zero = vdupq_n_f32(0.f);
  size_t j = begin;
  for (; j + 4 <= n; j += 4) {
    const float32x4_t w =
        vmaxq_f32(vsubq_f32(vminq_f32(ax2, vld1q_f32(x2 + j)), vmaxq_f32(ax1, vld1q_f32(x1 + j))),
                  zero);
    const float32x4_t h =
        vmaxq_f32(vsubq_f32(vminq_f32(ay2, vld1q_f32(y2 + j)), vmaxq_f32(ay1, vld1q_f32(y1 + j))),
                  zero);
    const float32x4_t inter = vmulq_f32(w, h);
    const float32x4_t uni = vsubq_f32(vaddq_f32(aa, vld1q_f32(area + j)), inter);
    const uint32x4_t m = vcgtq_f32(inter, vmulq_f32(t, uni));
    const uint16x4_t m16 = vmovn_u32(m);
    const uint8x8_t m8 = vand_u8(vmovn_u16(vcombine_u16(m16, m16)), vdup_n_u8(1));
    uint32_t prev;
    __builtin_memcpy(&prev, suppressed + j, 4);
    prev |= vget_lane_u32(vreinterpret_u32_u8(m8), 0);
    __builtin_memcpy(suppressed + j, &prev, 4);
  }
  f32_iou_suppress__scalar(x1, y1, x2, y2, area, i, j, n, thr, suppressed);
}

}  // namespace internal
}  // namespace sdk_kernels
