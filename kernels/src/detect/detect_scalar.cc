// Scalar reference: best class per box, and the IoU test of one candidate against kept boxes.
#include <cmath>

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

// Any kept box j with inter > thr * ((area_cand + area_j) - inter)? (OpenCV drops the
// candidate when IoU > threshold: equality keeps.)
bool f32_iou_any__scalar(const KeptBoxes& k, const float* b, float thr) {
  for (size_t j = 0; j < k.n; j++) {
    const float* f = k.blk + (j >> 2) * kKeptBlock + (j & 3);  // x1 y1 x2 y2 area, 4 apart
    const float w = std::fmax(std::fmin(f[8], b[2]) - std::fmax(f[0], b[0]), 0.f);
    const float h = std::fmax(std::fmin(f[12], b[3]) - std::fmax(f[4], b[1]), 0.f);
    const float inter = w * h;
    if (inter > thr * ((f[16] + b[4]) - inter)) return true;
  }
  return false;
}

}  // namespace internal
}  // namespace sdk_kernels
