// Bindings: fused preprocessing (u8 image -> normalised CHW float32 / int8).
#include <string>

#include "common.h"
#include "sdk_kernels/kernels.h"

namespace sdk_py {
namespace {

using sdk_kernels::PixelFormat;

struct Prepared {
  sdk_kernels::Image im;
  sdk_kernels::PreprocessParams p;
  int oc;
};

Prepared prepare(const py::array& img, int fmt, int out_w, int out_h, bool rgb_out,
                 const std::array<float, 3>& mean, const std::array<float, 3>& norm, bool letterbox,
                 int pad, bool full_range) {
  if (fmt < 0 || fmt > 5) fail("fmt", "0..5 (BGR, RGB, RGBA, GRAY, NV12, NV21)", std::to_string(fmt));
  const auto f = static_cast<PixelFormat>(fmt);
  require_dtype<uint8_t>(img, "img", "uint8");
  const int cn = sdk_kernels::pixel_format_channels(f);
  const bool nv = f == PixelFormat::NV12 || f == PixelFormat::NV21;
  Prepared r{};
  if (nv) {
    require_ndim(img, "img", 2, 2, "shape (height * 3 / 2, width) for NV12/NV21");
    require_inner_contiguous(img, "img", 1);
    const auto rows = img.shape(0), w = img.shape(1);
    if (rows % 3 != 0 || w % 2 != 0)
      fail("img", "shape (height * 3 / 2, width) with even height and width", "shape " + shape_str(img));
    const auto h = rows / 3 * 2;
    const auto* base = static_cast<const uint8_t*>(img.data());
    r.im = {f, base, static_cast<size_t>(img.strides(0)), base + h * img.strides(0),
            static_cast<size_t>(img.strides(0)), static_cast<int>(w), static_cast<int>(h)};
  } else if (cn == 1) {
    if (img.ndim() == 3 && img.shape(2) != 1) fail("img", "shape (height, width) or (height, width, 1) for GRAY", "shape " + shape_str(img));
    require_ndim(img, "img", 2, 3, "shape (height, width) for GRAY");
    require_inner_contiguous(img, "img", img.ndim() - 1);
    r.im = {f, static_cast<const uint8_t*>(img.data()), static_cast<size_t>(img.strides(0)), nullptr, 0,
            static_cast<int>(img.shape(1)), static_cast<int>(img.shape(0))};
  } else {
    if (img.ndim() != 3 || img.shape(2) != cn)
      fail("img", "shape (height, width, " + std::to_string(cn) + ")", "shape " + shape_str(img));
    require_inner_contiguous(img, "img", 2);
    r.im = {f, static_cast<const uint8_t*>(img.data()), static_cast<size_t>(img.strides(0)), nullptr, 0,
            static_cast<int>(img.shape(1)), static_cast<int>(img.shape(0))};
  }
  if (r.im.width <= 0 || r.im.height <= 0) fail("img", "a non-empty image", "shape " + shape_str(img));
  if (out_w <= 0 || out_h <= 0)
    fail("size", "positive (width, height)", "(" + std::to_string(out_w) + ", " + std::to_string(out_h) + ")");
  if (pad < 0 || pad > 255) fail("pad", "0..255", std::to_string(pad));
  r.p.out_width = out_w;
  r.p.out_height = out_h;
  r.p.rgb_out = rgb_out;
  for (int c = 0; c < 3; c++) {
    r.p.mean[c] = mean[c];
    r.p.norm[c] = norm[c];
  }
  r.p.letterbox = letterbox;
  r.p.pad = static_cast<uint8_t>(pad);
  r.p.yuv_full_range = full_range;
  if (const char* e = sdk_kernels::check_preprocess(r.im, r.p)) fail("preprocess", "valid arguments", e);
  r.oc = sdk_kernels::preprocess_out_channels(r.im);
  return r;
}

py::tuple info_tuple(const sdk_kernels::LetterboxInfo& li) {
  return py::make_tuple(li.scale_x, li.scale_y, li.offset_x, li.offset_y, li.resized_width,
                        li.resized_height);
}

py::tuple preprocess_f32(const py::array& img, int fmt, int out_w, int out_h, bool rgb_out,
                         const std::array<float, 3>& mean, const std::array<float, 3>& norm,
                         bool letterbox, int pad, bool full_range) {
  const Prepared r = prepare(img, fmt, out_w, out_h, rgb_out, mean, norm, letterbox, pad, full_range);
  py::array_t<float> out({r.oc, out_h, out_w});
  float* dst = out.mutable_data();
  sdk_kernels::LetterboxInfo li{};
  {
    py::gil_scoped_release nogil;
    sdk_kernels::preprocess_f32(r.im, r.p, dst, &li);
  }
  return py::make_tuple(out, info_tuple(li));
}

py::tuple preprocess_s8(const py::array& img, int fmt, int out_w, int out_h, bool rgb_out,
                        const std::array<float, 3>& mean, const std::array<float, 3>& norm,
                        bool letterbox, int pad, float input_scale, bool full_range) {
  const Prepared r = prepare(img, fmt, out_w, out_h, rgb_out, mean, norm, letterbox, pad, full_range);
  if (!(input_scale > 0.f)) fail("input_scale", "a positive float", std::to_string(input_scale));
  py::array_t<int8_t> out({r.oc, out_h, out_w});
  int8_t* dst = out.mutable_data();
  sdk_kernels::LetterboxInfo li{};
  {
    py::gil_scoped_release nogil;
    sdk_kernels::preprocess_s8(r.im, r.p, input_scale, dst, &li);
  }
  return py::make_tuple(out, info_tuple(li));
}

}  // namespace

void register_preprocess(py::module_& m) {
  m.def("preprocess_f32", &preprocess_f32, py::arg("img"), py::arg("fmt"), py::arg("out_w"),
        py::arg("out_h"), py::arg("rgb_out"), py::arg("mean"), py::arg("norm"),
        py::arg("letterbox"), py::arg("pad"), py::arg("full_range") = false,
        "u8 image -> bilinear resize (+letterbox) -> channel order -> (x - mean) * norm -> CHW "
        "float32. NV12/NV21: BT.601 limited range as OpenCV, or full range (full_range). Returns (array, (scale_x, scale_y, offset_x, offset_y, resized_w, resized_h)).");
  m.def("preprocess_s8", &preprocess_s8, py::arg("img"), py::arg("fmt"), py::arg("out_w"),
        py::arg("out_h"), py::arg("rgb_out"), py::arg("mean"), py::arg("norm"),
        py::arg("letterbox"), py::arg("pad"), py::arg("input_scale"), py::arg("full_range") = false,
        "As preprocess_f32, then int8: clamp(round_half_away(v * input_scale), -127, 127).");
}

}  // namespace sdk_py
