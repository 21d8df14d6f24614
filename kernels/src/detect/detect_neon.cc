// NEON: best class of 16 boxes (plain maximum first, argmax of 8/4 where needed) across the
// class rows, then the scalar tail; greedy suppression with the IoU of one candidate against
// 4 kept boxes per vector. Bit-exact with the reference.
#include <cfloat>
#include <cstddef>
#include <limits>

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

// Argmax down the class rows of 16 adjacent boxes (strictly greater wins: the first row keeps
// ties, and NaN never replaces, as in the scalar reference); stores best and cls; returns
// whether some best is not <= thr (a candidate, or NaN).
inline bool store_argmax16(const float* p, size_t i, size_t rows, size_t stride, float thr,
                           float* best, int32_t* cls) {
  p += i;
  float32x4_t b0 = vld1q_f32(p), b1 = vld1q_f32(p + 4), b2 = vld1q_f32(p + 8), b3 = vld1q_f32(p + 12);
  uint32x4_t k0 = vdupq_n_u32(0), k1 = k0, k2 = k0, k3 = k0, cur = k0;
  const uint32x4_t one = vdupq_n_u32(1);
  p += stride;
  for (size_t j = rows - 1; j; j--) {  // (counts down: no compare; the load post-increments)
    cur = vaddq_u32(cur, one);
#if defined(__aarch64__)
    const float32x4x4_t v = vld1q_f32_x4(p);
    p += stride;
#else
    const float32x4x4_t v = {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
    p += stride;
#endif
    const uint32x4_t m0 = cgtq_f32(v.val[0], b0), m1 = cgtq_f32(v.val[1], b1);
    const uint32x4_t m2 = cgtq_f32(v.val[2], b2), m3 = cgtq_f32(v.val[3], b3);
    b0 = vbslq_f32(m0, v.val[0], b0);
    b1 = vbslq_f32(m1, v.val[1], b1);
    b2 = vbslq_f32(m2, v.val[2], b2);
    b3 = vbslq_f32(m3, v.val[3], b3);
    k0 = vbslq_u32(m0, cur, k0);
    k1 = vbslq_u32(m1, cur, k1);
    k2 = vbslq_u32(m2, cur, k2);
    k3 = vbslq_u32(m3, cur, k3);
  }
  vst1q_f32(best + i, b0);
  vst1q_f32(best + i + 4, b1);
  vst1q_f32(best + i + 8, b2);
  vst1q_f32(best + i + 12, b3);
  vst1q_s32(cls + i, vreinterpretq_s32_u32(k0));
  vst1q_s32(cls + i + 4, vreinterpretq_s32_u32(k1));
  vst1q_s32(cls + i + 8, vreinterpretq_s32_u32(k2));
  vst1q_s32(cls + i + 12, vreinterpretq_s32_u32(k3));
  const float32x4_t t = vdupq_n_f32(thr);
  const uint32x4_t low = vandq_u32(vandq_u32(cleq_f32(b0, t), cleq_f32(b1, t)),
                                   vandq_u32(cleq_f32(b2, t), cleq_f32(b3, t)));
  return any_lane(vmvnq_u32(low));
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
// some box can pass the threshold (a maximum > thr, or NaN) runs the argmax of 16 boxes (which
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
      store_argmax16(s, i, c, stride, thr, best, cls);
      continue;
    }
    dense = store_argmax16(s, i, c, stride, thr, best, cls);
  }
  for (; i + 8 <= n; i += 8) store_argmax8(s, i, c, stride, best, cls);
  for (; i + 4 <= n; i += 4) {
    const RowArgmax4 r = row_argmax4(s + i, c, stride);
    vst1q_f32(best + i, r.b);
    vst1q_s32(cls + i, vreinterpretq_s32_u32(r.k));
  }
  f32_class_max__scalar(s, n, c, stride, thr, best, cls, i);
}

// Greedy suppression (NmsPass): the candidate against 16 kept boxes (four blocks) per
// iteration, then 2 and 1 blocks; the last block's NaN lanes never compare greater. Stops
// after the first group of blocks with an overlap. The candidate loop is here (not in the
// driver) so that the constants stay in registers and no call is made per candidate.
namespace {
struct Cand {
  float32x4_t x1, y1, x2, y2, a;
};
// Block at p (advanced past it) against the candidate. Only the height is clamped at 0, and
// the area sum is not compared with DBL_EPSILON: exact for 0 <= thr < 1, where every pair
// that gets here has s = area_a + area_b > DBL_EPSILON or NaN (NmsPass): a width w <= 0 then
// gives inter = w * max(h, 0) <= 0 (or NaN) where the reference has 0, and both tests are
// false, since thr * (s - inter) is >= 0 or NaN; elsewhere the two compute the same floats.
inline uint32x4_t overlaps(const float*& p, const Cand& c, float32x4_t t, float32x4_t zero) {
  const float32x4x4_t k = vld4q_f32(p);  // x1, y1, x2, y2 of 4 boxes: one LD4
  const float32x4_t area = vld1q_f32(p + 16);
  p += kKeptBlock;
  const float32x4_t w = vsubq_f32(vminq_f32(k.val[2], c.x2), vmaxq_f32(k.val[0], c.x1));
  const float32x4_t h = vmaxq_f32(vsubq_f32(vminq_f32(k.val[3], c.y2), vmaxq_f32(k.val[1], c.y1)), zero);
  const float32x4_t inter = vmulq_f32(w, h);
  const float32x4_t uni = vsubq_f32(vaddq_f32(area, c.a), inter);
  return cgtq_f32(inter, vmulq_f32(t, uni));
}

// The reference's test (both clamps, and only pairs whose area sum is > DBL_EPSILON), one block
// at a time: for a threshold outside [0, 1) (rare; no degenerate-pair rule runs first).
inline bool iou_any_ref(const float* p, size_t n, const Cand& c, float32x4_t t, float32x4_t zero) {
  const float32x4_t eps = vdupq_n_f32(float(DBL_EPSILON));
  for (size_t nb = (n + 3) / 4; nb; nb--, p += kKeptBlock) {
    const float32x4x4_t k = vld4q_f32(p);
    const float32x4_t w = vmaxq_f32(vsubq_f32(vminq_f32(k.val[2], c.x2), vmaxq_f32(k.val[0], c.x1)), zero);
    const float32x4_t h = vmaxq_f32(vsubq_f32(vminq_f32(k.val[3], c.y2), vmaxq_f32(k.val[1], c.y1)), zero);
    const float32x4_t inter = vmulq_f32(w, h);
    const float32x4_t sum = vaddq_f32(vld1q_f32(p + 16), c.a);
    const uint32x4_t m = cgtq_f32(inter, vmulq_f32(t, vsubq_f32(sum, inter)));
    if (any_lane(vandq_u32(m, cgtq_f32(sum, eps)))) return true;
  }
  return false;
}

inline bool iou_any(const float* p, size_t n, const Cand& c, float32x4_t t, float32x4_t zero) {
  size_t nb = (n + 3) / 4;  // blocks
  for (; nb >= 4; nb -= 4) {
    const uint32x4_t m0 = overlaps(p, c, t, zero);
    const uint32x4_t m1 = overlaps(p, c, t, zero);
    const uint32x4_t m2 = overlaps(p, c, t, zero);
    const uint32x4_t m3 = overlaps(p, c, t, zero);
    if (any_lane(vorrq_u32(vorrq_u32(m0, m1), vorrq_u32(m2, m3)))) return true;
  }
  if (nb >= 2) {
    const uint32x4_t m0 = overlaps(p, c, t, zero);
    const uint32x4_t m1 = overlaps(p, c, t, zero);
    if (any_lane(vorrq_u32(m0, m1))) return true;
    nb -= 2;
  }
  return nb && any_lane(overlaps(p, c, t, zero));
}

#if defined(__aarch64__)
// BoxDecoder::box with the four coordinates in one vector {x1, y1, x2, y2}: the same float
// operations lane by lane (cx - 0.5 w is cx + (-0.5 w), the same IEEE result; the clamp as
// compare + select, since FMAX/FMIN order -0 below +0 where std::clamp keeps -0). AArch64 only:
// ARMv7 NEON flushes denormals to zero, its VFP reference does not.
struct VecDecoder {
  float32x4_t half, off, scale, lim;
  bool clip;
  size_t rs;
  explicit VecDecoder(const BoxDecoder& d)
      : half{-0.5f, -0.5f, 0.5f, 0.5f}, off{d.ox, d.oy, d.ox, d.oy}, scale{d.sx, d.sy, d.sx, d.sy},
        lim{d.cw, d.ch, d.cw, d.ch}, clip(d.clip), rs(d.rs) {}
  // {x1, y1, x2, y2} of box b; area: (x2 - x1) * (y2 - y1).
  inline float32x4_t box(const float* data, size_t b, float& area) const {
    const float* q = data + b;
    float32x2_t c = vld1_dup_f32(q), wh = vld1_dup_f32(q + 2 * rs);
    c = vld1_lane_f32(q + rs, c, 1);
    wh = vld1_lane_f32(q + 3 * rs, wh, 1);
    float32x4_t v = vaddq_f32(vcombine_f32(c, c), vmulq_f32(vcombine_f32(wh, wh), half));
    v = vmulq_f32(vsubq_f32(v, off), scale);
    if (clip) {
      v = vbslq_f32(vcltzq_f32(v), vdupq_n_f32(0.f), v);
      v = vbslq_f32(vcltq_f32(lim, v), lim, v);
    }
    const float32x2_t d = vsub_f32(vget_high_f32(v), vget_low_f32(v));
    area = vget_lane_f32(d, 0) * vget_lane_f32(d, 1);
    return v;
  }
};
#endif

// The candidates of the pass until its end or max_det kept; kOneClamp: the one-clamp IoU test
// (overlaps, exact for 0 <= thr < 1), else the reference's. nk is updated.
template <bool kOneClamp>
__attribute__((noinline)) size_t suppress(const NmsPass& pass, Detection* out, size_t nk) {
  const NmsPass p = pass;  // a local copy: the stores below cannot alias its fields
  const float32x4_t t = vdupq_n_f32(p.thr), zero = vdupq_n_f32(0.f);
  const float32x4_t nan = vdupq_n_f32(std::numeric_limits<float>::quiet_NaN());
  const float eps = float(DBL_EPSILON);
#if defined(__aarch64__)
  const VecDecoder dec(pass.dec);
#else
  const BoxDecoder& dec = pass.dec;  // (read each time: a copy would be spilled around the IoU loop)
#endif
  const uint64_t* const key = p.key;
  const int32_t* const base = p.base;
  int32_t* const nkept = p.nkept;
  float* const min_area = p.min_area;
  float* const kept = p.kept;
  const float* const best = p.best;
  const float* const data = p.data;
  const size_t count = p.count, max_det = p.max_det;
  const bool degenerate = p.degenerate_overlap;
  for (size_t k = 0; k < count && nk < max_det; k++) {
    size_t c, i;
    split_key(static_cast<uint32_t>(key[k]), p, c, i);
#if defined(__aarch64__)
    float area;
    const float32x4_t v = dec.box(data, i, area);
#else
    float o[5];
    dec.box(data, i, o);
    const float32x4_t v = vld1q_f32(o);
    const float area = o[4];
#endif
    const auto kn = static_cast<size_t>(nkept[c]);
    const auto b = static_cast<size_t>(base[c]);  // a multiple of 4
    if (kn) {
      if (degenerate && area + min_area[c] <= eps) continue;
#if defined(__aarch64__)
      const Cand cd{vdupq_laneq_f32(v, 0), vdupq_laneq_f32(v, 1), vdupq_laneq_f32(v, 2), vdupq_laneq_f32(v, 3),
                    vdupq_n_f32(area)};
#else
      const Cand cd{vdupq_lane_f32(vget_low_f32(v), 0), vdupq_lane_f32(vget_low_f32(v), 1),
                    vdupq_lane_f32(vget_high_f32(v), 0), vdupq_lane_f32(vget_high_f32(v), 1), vdupq_n_f32(area)};
#endif
      const float* kb = kept + (b >> 2) * kKeptBlock;
      if (kOneClamp ? iou_any(kb, kn, cd, t, zero) : iou_any_ref(kb, kn, cd, t, zero)) continue;
    }
    const size_t j = b + kn;
    float* blk = kept + (j >> 2) * kKeptBlock;
    if ((j & 3) == 0) {  // a new block: NaN lanes until boxes are kept there
      vst1q_f32(blk, nan);
      vst1q_f32(blk + 4, nan);
      vst1q_f32(blk + 8, nan);
      vst1q_f32(blk + 12, nan);
      vst1q_f32(blk + 16, nan);
    }
    vst1q_f32(blk + 4 * (j & 3), v);
    blk[16 + (j & 3)] = area;
    min_area[c] = kn == 0 ? area : std::fmin(min_area[c], area);
    nkept[c] = static_cast<int32_t>(kn + 1);
    Detection& d = out[nk++];
    static_assert(offsetof(Detection, x1) == 0 && offsetof(Detection, y2) == 12, "x1 y1 x2 y2 first");
    vst1q_f32(reinterpret_cast<float*>(&d), v);
    d.score = best[i];
    d.class_id = static_cast<int32_t>(c);
  }
  return nk;
}
}  // namespace

size_t f32_nms_suppress__neon(const NmsPass& p, Detection* out, size_t nk) {
  return p.degenerate_overlap && p.thr >= 0.f ? suppress<true>(p, out, nk) : suppress<false>(p, out, nk);
}

}  // namespace internal
}  // namespace sdk_kernels
