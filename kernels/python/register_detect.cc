// Bindings: YOLO-style anchor-free decode + class-aware NMS.
#include <string>
#include <vector>

#include "common.h"
#include "sdk_kernels/kernels.h"

namespace sdk_py {
namespace {

py::tuple decode_nms(const py::array& out, float score_threshold, float iou_threshold,
                     py::ssize_t max_detections, const std::array<float, 4>& letterbox,
                     const std::array<float, 2>& clip) {
  require_dtype<float>(out, "output", "float32");
  require_ndim(out, "output", 2, 2, "shape (4 + num_classes, num_boxes)");
  require_inner_contiguous(out, "output", 1);
  if (out.shape(0) < 5) fail("output", "shape (4 + num_classes, num_boxes) with num_classes >= 1", "shape " + shape_str(out));
  if (out.strides(0) % 4 != 0) fail("output", "a row stride that is a multiple of 4 bytes", std::to_string(out.strides(0)));
  if (static_cast<uint64_t>(out.shape(0) - 4) * static_cast<uint64_t>(out.shape(1)) > 0xFFFFFFFFull)
    fail("output", "num_classes * num_boxes < 2^32", "shape " + shape_str(out));
  if (max_detections < 1) fail("max_detections", ">= 1", std::to_string(max_detections));
  if (!(iou_threshold >= 0.f && iou_threshold <= 1.f)) fail("iou_threshold", "0..1", std::to_string(iou_threshold));
  if (!(letterbox[0] > 0.f && letterbox[1] > 0.f)) fail("letterbox", "positive scales", "non-positive scale");
  sdk_kernels::DecodeParams p{};
  p.num_boxes = static_cast<size_t>(out.shape(1));
  p.num_classes = static_cast<size_t>(out.shape(0) - 4);
  p.row_stride = out.shape(1) > 1 || out.shape(0) > 1 ? static_cast<size_t>(out.strides(0) / 4) : 1;
  p.score_threshold = score_threshold;
  p.iou_threshold = iou_threshold;
  p.max_detections = static_cast<size_t>(max_detections);
  p.letterbox.scale_x = letterbox[0];
  p.letterbox.scale_y = letterbox[1];
  p.letterbox.offset_x = static_cast<int>(letterbox[2]);
  p.letterbox.offset_y = static_cast<int>(letterbox[3]);
  p.clip_width = clip[0];
  p.clip_height = clip[1];
  std::vector<uint64_t> ws(sdk_kernels::decode_nms_workspace_size(p.num_boxes, p.num_classes) / 8 + 1);
  std::vector<sdk_kernels::Detection> dets(p.max_detections);
  size_t n;
  const auto* data = static_cast<const float*>(out.data());
  {
    py::gil_scoped_release nogil;
    n = sdk_kernels::decode_nms(data, p, ws.data(), dets.data());
  }
  py::array_t<float> boxes({static_cast<py::ssize_t>(n), py::ssize_t(4)});
  py::array_t<float> scores(static_cast<py::ssize_t>(n));
  py::array_t<int32_t> classes(static_cast<py::ssize_t>(n));
  auto b = boxes.mutable_unchecked<2>();
  auto s = scores.mutable_unchecked<1>();
  auto c = classes.mutable_unchecked<1>();
  for (size_t i = 0; i < n; i++) {
    const auto k = static_cast<py::ssize_t>(i);
    b(k, 0) = dets[i].x1;
    b(k, 1) = dets[i].y1;
    b(k, 2) = dets[i].x2;
    b(k, 3) = dets[i].y2;
    s(k) = dets[i].score;
    c(k) = dets[i].class_id;
  }
  return py::make_tuple(boxes, scores, classes);
}

}  // namespace

void register_detect(py::module_& m) {
  m.def("decode_nms", &decode_nms, py::arg("output"), py::arg("score_threshold"),
        py::arg("iou_threshold"), py::arg("max_detections"), py::arg("letterbox"), py::arg("clip"),
        "YOLOv8-style output (4 + C, N) -> (boxes (K, 4) x1y1x2y2, scores (K,), class_ids (K,)).");
}

}  // namespace sdk_py
