// Drivers of softmax / top-k: call the dispatched variant.
#include "../internal.h"

namespace sdk_kernels {

void softmax_f32(const float* x, size_t n, float* y) { internal::dispatch().softmax(x, n, y); }

size_t topk_f32(const float* x, size_t n, size_t k, int32_t* indices, float* values) {
  return internal::dispatch().topk(x, n, k, indices, values);
}

}  // namespace sdk_kernels
