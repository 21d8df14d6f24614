// NEON: best class of 8/4 boxes per iteration across the class rows; IoU of one candidate
// against 4 kept boxes per iteration. Then the scalar tail. Bit-exact with the reference.
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

// 4 kept boxes per iteration over whole blocks (the driver pads a class's last block with
// NaN boxes, which never compare greater); stops at the first block with an overlap.
bool f32_iou_any__neon(const KeptBoxes& k, const float* b, float thr) {
  const float32x4_t bx1 = vdupq_n_f32(b[0]), by1 = vdupq_n_f32(b[1]);
  const float32x4_t bx2 = vdupq_n_f32(b[2]), by2 = vdupq_n_f32(b[3]);
  const float32x4_t ba = vdupq_n_f32(b[4]), t = vdupq_n_f32(thr), zero = vdupq_n_f32(0.f);
  for (size_t j = 0; j < k.n; j += 4) {
    const float32x4_t w =
        vmaxq_f32(vsubq_f32(vminq_f32(vld1q_f32(k.x2 + j), bx2), vmaxq_f32(vld1q_f32(k.x1 + j), bx1)), zero);
    const float32x4_t h =
        vmaxq_f32(vsubq_f32(vminq_f32(vld1q_f32(k.y2 + j), by2), vmaxq_f32(vld1q_f32(k.y1 + j), by1)), zero);
    const float32x4_t inter = vmulq_f32(w, h);
    const float32x4_t uni = vsubq_f32(vaddq_f32(vld1q_f32(k.area + j), ba), inter);
    if (any_lane(vcgtq_f32(inter, vmulq_f32(t, uni)))) return true;
  }
  return false;
}

}  // namespace internal
}  // namespace sdk_kernels
