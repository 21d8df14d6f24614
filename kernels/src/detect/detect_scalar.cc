// Scalar reference: best class per box, and one IoU row of greedy NMS.
#include <cmath>

#include "../internal.h"

namespace sdk_kernels {
namespace internal {

void f32_class_max__scalar(const float* scores, size_t n, size_t c, size_t stride, float* best,
                           int32_t* cls, size_t begin) {
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

// suppressed[j] |= inter > thr * union, with union = (area_i + area_j) - inter.
void f32_iou_suppress__scalar(const float* x1, const float* y1, const float* x2,
                              const float* y2, const float* area, size_t i, size_t begin,
                              size_t n, float thr, uint8_t* suppressed) {
  for (size_t j = begin; j < n; j++) {
    const float w = std::fmax(std::fmin(x2[i], x2[j]) - std::fmax(x1[i], x1[j]), 0.f);
    const float h = std::fmax(std::fmin(y2[i], y2[j]) - std::fmax(y1[i], y1[j]), 0.f);
    const float inter = w * h;
    const float uni = (area[i] + area[j]) - inter;
    if (inter > thr * uni) suppressed[j] = 1;
  }
}

}  // namespace internal
}  // namespace sdk_kernels
