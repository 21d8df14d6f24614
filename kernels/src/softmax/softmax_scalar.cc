// Scalar reference: softmax and top-k over class scores.
#include <cmath>

#include "../internal.h"

namespace sdk_kernels {
namespace internal {

void f32_softmax__scalar(const float* x, size_t n, float* y) {
  if (n == 0) return;
  float m = x[0];
  for (size_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  float s = 0.f;
  for (size_t i = 0; i < n; i++) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  const float inv = 1.f / s;
  for (size_t i = 0; i < n; i++) y[i] *= inv;
}

// Pick j is the largest element ordered by (value desc, index asc) strictly after pick j-1.
size_t f32_topk__scalar(const float* x, size_t n, size_t k, int32_t* idx, float* val) {
  k = k < n ? k : n;
  float pv = INFINITY;
  long pi = -1;
  for (size_t j = 0; j < k; j++) {
    long bi = -1;
    float bv = -INFINITY;
    for (size_t i = 0; i < n; i++) {
      const float v = x[i];
      const bool after = v < pv || (v == pv && static_cast<long>(i) > pi);
      if (after && (bi < 0 || v > bv)) { bv = v; bi = static_cast<long>(i); }
    }
    if (bi < 0) return j;
    idx[j] = static_cast<int32_t>(bi);
    val[j] = bv;
    pv = bv;
    pi = bi;
  }
  return k;
}

}  // namespace internal
}  // namespace sdk_kernels
