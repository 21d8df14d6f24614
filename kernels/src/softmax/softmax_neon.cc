// NEON softmax (polynomial exp, 16/4 loops) and top-k (4-lane scan), then the scalar tail.
#include <cmath>

#include "../internal.h"
#include "../neon_util.h"

namespace sdk_kernels {
namespace internal {
namespace {

inline float hmax(float32x4_t v) {
#if defined(__aarch64__)
  return vmaxvq_f32(v);
#else
  float32x2_t m = vpmax_f32(vget_low_f32(v), vget_high_f32(v));
  m = vpmax_f32(m, m);
  return vget_lane_f32(m, 0);
#endif
}

inline float hsum(float32x4_t v) {
#if defined(__aarch64__)
  return vaddvq_f32(v);
#else
  float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
  s = vpadd_f32(s, s);
  return vget_lane_f32(s, 0);
#endif
}

// exp(x) for x <= 0: x = n ln2 + r, |r| <= ln2/2, degree-6 Taylor polynomial, 2^n through the
// exponent field. Relative error < 2e-7 for x >= -87; below that it returns exp(-87).
inline float32x4_t vexp(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-87.f));
  const float32x4_t t = vmulq_f32(x, vdupq_n_f32(1.44269504f));
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(t), vdupq_n_u32(0x80000000u));
  const float32x4_t half = vreinterpretq_f32_u32(vorrq_u32(sign, vdupq_n_u32(0x3f000000u)));
  const int32x4_t n = vcvtq_s32_f32(vaddq_f32(t, half));
  const float32x4_t nf = vcvtq_f32_s32(n);
  float32x4_t r = vfmsq_f32(x, nf, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, nf, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.f / 720.f);
  p = vfmaq_f32(vdupq_n_f32(1.f / 120.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f / 24.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f / 6.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.f), p, r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

}  // namespace

void f32_softmax__neon(const float* x, size_t n, float* y) {
  if (n == 0) return;
  size_t i = 0;
  float32x4_t m4 = vdupq_n_f32(-INFINITY);
  for (; i + 16 <= n; i += 16) {
    m4 = vmaxq_f32(m4, vmaxq_f32(vmaxq_f32(vld1q_f32(x + i), vld1q_f32(x + i + 4)),
                                 vmaxq_f32(vld1q_f32(x + i + 8), vld1q_f32(x + i + 12))));
  }
  for (; i + 4 <= n; i += 4) m4 = vmaxq_f32(m4, vld1q_f32(x + i));
  float m = hmax(m4);
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  const float32x4_t mv = vdupq_n_f32(m);
  float32x4_t s4 = vdupq_n_f32(0.f);
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t e = vexp(vsubq_f32(vld1q_f32(x + i), mv));
    vst1q_f32(y + i, e);
    s4 = vaddq_f32(s4, e);
  }
  float s = hsum(s4);
  for (; i < n; i++) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  const float inv = 1.f / s;
  const float32x4_t iv = vdupq_n_f32(inv);
  for (i = 0; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), iv));
  for (; i < n; i++) y[i] *= inv;
}

size_t f32_topk__neon(const float* x, size_t n, size_t k, int32_t* idx, float* val) {
  k = k < n ? k : n;
  float pv = INFINITY;
  long pi = -1;
  const int32_t lane[4] = {0, 1, 2, 3};
  for (size_t j = 0; j < k; j++) {
    const float32x4_t pvv = vdupq_n_f32(pv);
    const int32x4_t piv = vdupq_n_s32(static_cast<int32_t>(pi));
    float32x4_t bv = vdupq_n_f32(-INFINITY);
    int32x4_t bi = vdupq_n_s32(-1);
    int32x4_t iv = vld1q_s32(lane);
    size_t i = 0;
    for (; i + 4 <= n; i += 4, iv = vaddq_s32(iv, vdupq_n_s32(4))) {
      const float32x4_t v = vld1q_f32(x + i);
      const uint32x4_t after =
          vorrq_u32(cltq_f32(v, pvv), vandq_u32(ceqq_f32(v, pvv), vcgtq_s32(iv, piv)));
      const uint32x4_t take =
          vandq_u32(after, vorrq_u32(cgtq_f32(v, bv), vceqq_s32(bi, vdupq_n_s32(-1))));
      bv = vbslq_f32(take, v, bv);
      bi = vbslq_s32(take, iv, bi);
    }
    float lv[4];
    int32_t li[4];
    vst1q_f32(lv, bv);
    vst1q_s32(li, bi);
    long b = -1;
    float bvs = -INFINITY;
    for (int l = 0; l < 4; l++) {
      if (li[l] < 0) continue;
      if (b < 0 || lv[l] > bvs || (lv[l] == bvs && li[l] < b)) { bvs = lv[l]; b = li[l]; }
    }
    for (; i < n; i++) {  // tail: indices above every lane's, so strict > keeps lowest index
      const float v = x[i];
      const bool after = v < pv || (v == pv && static_cast<long>(i) > pi);
      if (after && (b < 0 || v > bvs)) { bvs = v; b = static_cast<long>(i); }
    }
    if (b < 0) return j;
    idx[j] = static_cast<int32_t>(b);
    val[j] = bvs;
    pv = bvs;
    pi = b;
  }
  return k;
}

}  // namespace internal
}  // namespace sdk_kernels
