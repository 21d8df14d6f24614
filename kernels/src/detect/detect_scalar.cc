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
    const float w = std::fmax(std::fmin(k.x2[j], b[2]) - std::fmax(k.x1[j], b[0]), 0.f);
    const float h = std::fmax(std::fmin(k.y2[j], b[3]) - std::fmax(k.y1[j], b[1]), 0.f);
    const float inter = w * h;
    if (inter > thr * ((k.area[j] + b[4]) - inter)) return true;
  }
  return false;
}

}  // namespace internal
}  // namespace sdk_kernels
