// NEON: best class of 16 boxes (plain maximum first, argmax of 8/4 where needed) across the
// class rows; IoU of one candidate
// against 4 kept boxes per iteration. Then the scalar tail. Bit-exact with the reference.
#include "../internal.h"
#include "../neon_util.h"

namespace sdk_kernels {
namespace internal {

namespace {
// Maximum down the class rows of 16 adjacent boxes (NaN propagates: FMAX / VMAX return NaN).
struct Max16 {
  float32x4_t m0, m1, m2, m3;
};
inline Max16 row_max16(const float* p, size_t rows, size_t stride) {
  float32x4_t m0 = vld1q_f32(p), m1 = vld1q_f32(p + 4), m2 = vld1q_f32(p + 8), m3 = vld1q_f32(p + 12);
  for (size_t j = 1; j < rows; j++) {
    p += stride;
#if defined(__aarch64__)
    const float32x4x4_t v = vld1q_f32_x4(p);  // one LD1 of four registers
#else
    const float32x4x4_t v = {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
#endif
    m0 = vmaxq_f32(m0, v.val[0]);
    m1 = vmaxq_f32(m1, v.val[1]);
    m2 = vmaxq_f32(m2, v.val[2]);
    m3 = vmaxq_f32(m3, v.val[3]);
  }
  return Max16{m0, m1, m2, m3};
}

inline void store_argmax8(const float* s, size_t i, size_t c, size_t stride, float* best, int32_t* cls) {
  const RowArgmax8 r = row_argmax8(s + i, c, stride);
  vst1q_f32(best + i, r.b0);
  vst1q_f32(best + i + 4, r.b1);
  vst1q_s32(cls + i, vreinterpretq_s32_u32(r.k0));
  vst1q_s32(cls + i + 4, vreinterpretq_s32_u32(r.k1));
}
}  // namespace

// Blocks of 16 boxes: first the plain maximum (1 FMAX per 4 box-classes); only a block where
// some box can pass the threshold (a maximum > thr, or NaN) runs the argmax of 8 boxes (which
// gives the reference's first-maximum and NaN behaviour). Elsewhere best = the maximum, which
// is <= thr exactly when the reference's is, and cls is left unwritten (see internal.h).
// Where candidates are dense the maximum pass is wasted: after a block that needed the argmax,
// the next block goes straight to it, until one of those blocks has no candidate.
void f32_class_max__neon(const float* s, size_t n, size_t c, size_t stride, float thr, float* best,
                         int32_t* cls, size_t begin) {
  const float32x4_t t = vdupq_n_f32(thr);
  size_t i = begin;
  bool dense = false;
  for (; i + 16 <= n; i += 16) {
    if (!dense) {
      const Max16 r = row_max16(s + i, c, stride);
      const uint32x4_t low = vandq_u32(vandq_u32(cleq_f32(r.m0, t), cleq_f32(r.m1, t)),
                                       vandq_u32(cleq_f32(r.m2, t), cleq_f32(r.m3, t)));
      dense = any_lane(vmvnq_u32(low));
      if (!dense) {
        vst1q_f32(best + i, r.m0);
        vst1q_f32(best + i + 4, r.m1);
        vst1q_f32(best + i + 8, r.m2);
        vst1q_f32(best + i + 12, r.m3);
        continue;
      }
      store_argmax8(s, i, c, stride, best, cls);
      store_argmax8(s, i + 8, c, stride, best, cls);
      continue;
    }
    store_argmax8(s, i, c, stride, best, cls);
    store_argmax8(s, i + 8, c, stride, best, cls);
    const uint32x4_t low = vandq_u32(vandq_u32(cleq_f32(vld1q_f32(best + i), t), cleq_f32(vld1q_f32(best + i + 4), t)),
                                     vandq_u32(cleq_f32(vld1q_f32(best + i + 8), t), cleq_f32(vld1q_f32(best + i + 12), t)));
    dense = any_lane(vmvnq_u32(low));
  }
  for (; i + 8 <= n; i += 8) store_argmax8(s, i, c, stride, best, cls);
  for (; i + 4 <= n; i += 4) {
    const RowArgmax4 r = row_argmax4(s + i, c, stride);
    vst1q_f32(best + i, r.b);
    vst1q_s32(cls + i, vreinterpretq_s32_u32(r.k));
  }
  f32_class_max__scalar(s, n, c, stride, thr, best, cls, i);
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
    if (any_lane(cgtq_f32(inter, vmulq_f32(t, uni)))) return true;
  }
  return false;
}

}  // namespace internal
}  // namespace sdk_kernels
