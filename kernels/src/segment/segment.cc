// Drivers of the segmentation / OCR post-processing: loop rows, call the dispatched row kernel.
#include "../internal.h"

namespace sdk_kernels {

void argmax_chw_u8(const float* x, size_t channels, size_t height, size_t width,
                   size_t row_stride, size_t plane_stride, uint8_t* labels,
                   size_t label_stride) {
  if (channels == 0) return;
  const auto& d = internal::dispatch();
  for (size_t y = 0; y < height; y++)
    d.argmax(x + y * row_stride, channels, width, plane_stride, labels + y * label_stride, 0);
}

void binarize_f32_u8(const float* prob, size_t height, size_t width, size_t prob_stride,
                     float threshold, uint8_t* mask, size_t mask_stride) {
  const auto& d = internal::dispatch();
  for (size_t y = 0; y < height; y++)
    d.binarize(prob + y * prob_stride, width, threshold, mask + y * mask_stride, 0);
}

}  // namespace sdk_kernels
