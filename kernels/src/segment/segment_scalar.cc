// Scalar reference: argmax over channels (segmentation), DB binarisation (OCR).
#include "../internal.h"

namespace sdk_kernels {
namespace internal {

void f32_argmax_chw_u8__scalar(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                               size_t begin) {
  for (size_t i = begin; i < w; i++) {
    float b = x[i];
    uint32_t k = 0;
    for (size_t j = 1; j < c; j++) {
      const float v = x[j * ps + i];
      if (v > b) { b = v; k = static_cast<uint32_t>(j); }
    }
    out[i] = static_cast<uint8_t>(k);
  }
}

void f32_binarize_u8__scalar(const float* p, size_t n, float thr, uint8_t* m, size_t begin) {
  for (size_t i = begin; i < n; i++) m[i] = p[i] > thr ? 255 : 0;
}

}  // namespace internal
}  // namespace sdk_kernels
