// Bindings: argmax over channels (segmentation), DB binarisation (OCR).
#include <string>

#include "common.h"
#include "sdk_kernels/kernels.h"

namespace sdk_py {
namespace {

py::array_t<uint8_t> argmax(const py::array& x) {
  require_dtype<float>(x, "x", "float32");
  require_ndim(x, "x", 3, 3, "shape (channels, height, width)");
  require_inner_contiguous(x, "x", 1);
  if (x.shape(0) < 1 || x.shape(0) > 256) fail("x", "1..256 channels", std::to_string(x.shape(0)));
  if (x.strides(0) % 4 || x.strides(1) % 4) fail("x", "strides that are multiples of 4 bytes", "unaligned strides");
  const auto c = static_cast<size_t>(x.shape(0)), h = static_cast<size_t>(x.shape(1));
  const auto w = static_cast<size_t>(x.shape(2));
  py::array_t<uint8_t> out({x.shape(1), x.shape(2)});
  uint8_t* o = out.mutable_data();
  const auto* p = static_cast<const float*>(x.data());
  const auto rs = static_cast<size_t>(x.strides(1) / 4), ps = static_cast<size_t>(x.strides(0) / 4);
  {
    py::gil_scoped_release nogil;
    sdk_kernels::argmax_chw_u8(p, c, h, w, rs, ps, o, w);
  }
  return out;
}

py::array_t<uint8_t> binarize(const py::array& prob, float threshold) {
  require_dtype<float>(prob, "prob", "float32");
  require_ndim(prob, "prob", 2, 2, "shape (height, width)");
  require_inner_contiguous(prob, "prob", 1);
  if (prob.strides(0) % 4) fail("prob", "a row stride that is a multiple of 4 bytes", std::to_string(prob.strides(0)));
  const auto h = static_cast<size_t>(prob.shape(0)), w = static_cast<size_t>(prob.shape(1));
  py::array_t<uint8_t> out({prob.shape(0), prob.shape(1)});
  uint8_t* o = out.mutable_data();
  const auto* p = static_cast<const float*>(prob.data());
  const auto rs = static_cast<size_t>(prob.strides(0) / 4);
  {
    py::gil_scoped_release nogil;
    sdk_kernels::binarize_f32_u8(p, h, w, rs, threshold, o, w);
  }
  return out;
}

}  // namespace

void register_segment(py::module_& m) {
  m.def("argmax", &argmax, py::arg("x"), "(C, H, W) float32 -> (H, W) uint8 labels, first max wins");
  m.def("binarize", &binarize, py::arg("prob"), py::arg("threshold"),
        "(H, W) float32 -> (H, W) uint8 mask: 255 where prob > threshold");
}

}  // namespace sdk_py
