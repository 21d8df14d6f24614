// Scalar reference: best class per box, and greedy suppression of candidates in order.
#include <cfloat>
#include <cmath>
#include <limits>

#include "../internal.h"

namespace sdk_kernels {
namespace internal {

void f32_class_max__scalar(const float* scores, size_t n, size_t c, size_t stride, float,
                           float* best, int32_t* cls, size_t begin) {
  for (size_t i = begin; i < n; i++) {
    float b = scores[i];
    int32_t k = 0;
    for (size_t j = 1; j < c; j++) {
      const float v = scores[j * stride + i];
      if (v > b) { b = v; k = static_cast<int32_t>(j); }
    }
    best[i] = b;
    cls[i] = k;
  }
}

// Any of the n kept boxes at blk with area sum s = area_cand + area_j > DBL_EPSILON and
// inter > thr * (s - inter)? (OpenCV drops the candidate when IoU > threshold: equality keeps;
// a pair with s <= DBL_EPSILON has IoU 1, which the caller's degenerate-pair rule decides.)
bool f32_iou_any_ref(const float* blk, size_t n, const float* b, float thr) {
  for (size_t j = 0; j < n; j++) {
    const float* q = blk + (j >> 2) * kKeptBlock;
    const float* f = q + 4 * (j & 3);  // x1 y1 x2 y2
    const float w = std::fmax(std::fmin(f[2], b[2]) - std::fmax(f[0], b[0]), 0.f);
    const float h = std::fmax(std::fmin(f[3], b[3]) - std::fmax(f[1], b[1]), 0.f);
    const float inter = w * h;
    const float sum = q[16 + (j & 3)] + b[4];
    if (sum > float(DBL_EPSILON) && inter > thr * (sum - inter)) return true;
  }
  return false;
}

// The specification of NmsPass (internal.h), one candidate at a time.
size_t f32_nms_suppress__scalar(const NmsPass& p, Detection* out, size_t nk) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t k = 0; k < p.count && nk < p.max_det; k++) {
    size_t c, i;
    split_key(static_cast<uint32_t>(p.key[k]), p, c, i);
    float o[5];
    p.dec.box(p.data, i, o);
    const auto kn = static_cast<size_t>(p.nkept[c]);
    const size_t j = static_cast<size_t>(p.base[c]) + kn;  // base: a multiple of 4
    if (kn) {
      if (p.degenerate_overlap && o[4] + p.min_area[c] <= float(DBL_EPSILON)) continue;
      if (f32_iou_any_ref(p.kept + (static_cast<size_t>(p.base[c]) >> 2) * kKeptBlock, kn, o, p.thr)) continue;
    }
    float* blk = p.kept + (j >> 2) * kKeptBlock;
    if ((j & 3) == 0)  // a new block: NaN lanes until boxes are kept there
      for (size_t f = 0; f < kKeptBlock; f++) blk[f] = nan;
    for (size_t f = 0; f < 4; f++) blk[4 * (j & 3) + f] = o[f];
    blk[16 + (j & 3)] = o[4];
    p.min_area[c] = kn == 0 ? o[4] : std::fmin(p.min_area[c], o[4]);
    p.nkept[c] = static_cast<int32_t>(kn + 1);
    out[nk++] = Detection{o[0], o[1], o[2], o[3], p.best[i], static_cast<int32_t>(c)};
  }
  return nk;
}
}  // namespace internal
}  // namespace sdk_kernels
