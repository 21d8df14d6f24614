// Bindings: softmax and top-k over class scores.
#include <string>

#include "common.h"
#include "sdk_kernels/kernels.h"

namespace sdk_py {
namespace {

const float* vector_f32(const py::array& x, const char* what) {
  require_dtype<float>(x, what, "float32");
  require_ndim(x, what, 1, 1, "a 1-D array of class scores");
  require_inner_contiguous(x, what, 1);
  return static_cast<const float*>(x.data());
}

py::array_t<float> softmax(const py::array& x) {
  const float* p = vector_f32(x, "x");
  const auto n = static_cast<size_t>(x.shape(0));
  py::array_t<float> y(static_cast<py::ssize_t>(n));
  float* q = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    sdk_kernels::softmax_f32(p, n, q);
  }
  return y;
}

py::tuple topk(const py::array& x, py::ssize_t k) {
  const float* p = vector_f32(x, "x");
  if (k < 1) fail("k", "k >= 1", std::to_string(k));
  const auto n = static_cast<size_t>(x.shape(0));
  const size_t kk = std::min(static_cast<size_t>(k), n);
  py::array_t<int32_t> idx(static_cast<py::ssize_t>(kk));
  py::array_t<float> val(static_cast<py::ssize_t>(kk));
  int32_t* ip = idx.mutable_data();
  float* vp = val.mutable_data();
  {
    py::gil_scoped_release nogil;
    sdk_kernels::topk_f32(p, n, kk, ip, vp);
  }
  return py::make_tuple(idx, val);
}

}  // namespace

void register_classify(py::module_& m) {
  m.def("softmax", &softmax, py::arg("x"), "softmax of a 1-D float32 array");
  m.def("topk", &topk, py::arg("x"), py::arg("k"),
        "(indices int32, values float32) of the k largest, largest first, ties by lower index");
}

}  // namespace sdk_py
