// Benchmark driver, built as a static aarch64 program and run under QEMU with insn_plugin:
//   kernel_bench <case> <scalar|neon> <calls>
// cases: bgr   1920x1080 BGR u8 -> 224x224 RGB float CHW, ImageNet mean/std
//        nv12  1920x1080 NV12   -> 224x224 RGB float CHW, ImageNet mean/std
//        nms   8000 uniform random boxes in 600x600, 80 classes, score 0.25, IoU 0.45, room for
//              every detection (5,807 kept, the set the OpenCV baselines keep): no early stop
//        nms-300  the same with at most 300 detections (the driver stops once 300 are kept)
//        yolov8n, yolov8-fall  a YOLOv8 head [4 + C, 8400] as the engine returns it, read from
//              $SDK_BENCH_DATA/<case>.f32 (sdk/kernels/bench_detect.py: 32-byte header with the
//              letterbox and source size), score 0.25, IoU 0.45, 300 detections, boxes mapped
//              back to the source image and clipped
// The setup is identical whatever <calls> is, so (count(N) - count(0)) / N is the cost of one
// call (differential counting). Prints a checksum so the work cannot be optimised away.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sdk_kernels/kernels.h"

namespace {

sdk_kernels::PreprocessParams imagenet(int w, int h) {
  sdk_kernels::PreprocessParams p{};
  p.out_width = w;
  p.out_height = h;
  p.rgb_out = true;
  const float mean[3] = {123.675f, 116.28f, 103.53f}, norm[3] = {1 / 58.395f, 1 / 57.12f, 1 / 57.375f};
  for (int c = 0; c < 3; c++) { p.mean[c] = mean[c]; p.norm[c] = norm[c]; }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <bgr|nv12|nms> <scalar|neon> <calls>\n", argv[0]);
    return 2;
  }
  const std::string what = argv[1], variant = argv[2];
  const long calls = std::strtol(argv[3], nullptr, 10);
  sdk_kernels::force_scalar(variant == "scalar");
  std::mt19937 rng(42);
  double checksum = 0;
  if (what == "bgr" || what == "nv12") {
    const int w = 1920, h = 1080;
    const bool nv = what == "nv12";
    std::vector<uint8_t> img(nv ? w * h * 3 / 2 : w * h * 3);
    for (auto& b : img) b = static_cast<uint8_t>(rng() >> 24);
    sdk_kernels::Image im{nv ? sdk_kernels::PixelFormat::NV12 : sdk_kernels::PixelFormat::BGR,
                          img.data(), static_cast<size_t>(nv ? w : w * 3),
                          nv ? img.data() + w * h : nullptr, static_cast<size_t>(w), w, h};
    const auto p = imagenet(224, 224);
    std::vector<float> out(3 * 224 * 224);
    for (long i = 0; i < calls; i++) sdk_kernels::preprocess_f32(im, p, out.data(), nullptr);
    for (float v : out) checksum += v;
  } else if (what == "nms" || what == "nms-300") {
    const size_t n = 8000, c = 80;
    std::vector<float> data((4 + c) * n);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (size_t i = 0; i < n; i++) {
      float x1 = u(rng) * 600, x2 = u(rng) * 600, y1 = u(rng) * 600, y2 = u(rng) * 600;
      if (x1 > x2) std::swap(x1, x2);
      if (y1 > y2) std::swap(y1, y2);
      data[i] = 0.5f * (x1 + x2);
      data[n + i] = 0.5f * (y1 + y2);
      data[2 * n + i] = x2 - x1;
      data[3 * n + i] = y2 - y1;
    }
    for (size_t k = 4 * n; k < data.size(); k++) data[k] = u(rng);
    sdk_kernels::DecodeParams p{};
    p.num_boxes = n;
    p.num_classes = c;
    p.row_stride = n;
    p.score_threshold = 0.25f;
    p.iou_threshold = 0.45f;
    p.max_detections = what == "nms-300" ? 300 : n;
    p.letterbox = {1.f, 1.f, 0, 0, 600, 600};
    std::vector<uint64_t> ws(sdk_kernels::decode_nms_workspace_size(n, c) / 8 + 1);
    std::vector<sdk_kernels::Detection> dets(p.max_detections);
    size_t got = 0;
    for (long i = 0; i < calls; i++) got = sdk_kernels::decode_nms(data.data(), p, ws.data(), dets.data());
    checksum = static_cast<double>(got);
    for (size_t k = 0; k < got; k++) checksum += dets[k].score;
  } else if (what == "yolov8n" || what == "yolov8-fall") {
    const char* dir = std::getenv("SDK_BENCH_DATA");
    const std::string path = std::string(dir ? dir : ".") + "/" + what + ".f32";
    std::FILE* f = std::fopen(path.c_str(), "rb");
    int32_t shape[2];
    float meta[6];
    if (!f || std::fread(shape, 4, 2, f) != 2 || std::fread(meta, 4, 6, f) != 6) {
      std::fprintf(stderr, "cannot read %s\n", path.c_str());
      return 2;
    }
    std::vector<float> data(static_cast<size_t>(shape[0]) * shape[1]);
    const bool ok = std::fread(data.data(), 4, data.size(), f) == data.size();
    std::fclose(f);
    if (!ok) return 2;
    sdk_kernels::DecodeParams p{};
    p.num_boxes = static_cast<size_t>(shape[1]);
    p.num_classes = static_cast<size_t>(shape[0] - 4);
    p.row_stride = p.num_boxes;
    p.score_threshold = 0.25f;
    p.iou_threshold = 0.45f;
    p.max_detections = 300;
    p.letterbox = {meta[0], meta[0], static_cast<int>(meta[1]), static_cast<int>(meta[2]), 0, 0};
    p.clip_width = meta[3];
    p.clip_height = meta[4];
    std::vector<uint64_t> ws(sdk_kernels::decode_nms_workspace_size(p.num_boxes, p.num_classes) / 8 + 1);
    std::vector<sdk_kernels::Detection> dets(p.max_detections);
    size_t got = 0;
    for (long i = 0; i < calls; i++) got = sdk_kernels::decode_nms(data.data(), p, ws.data(), dets.data());
    checksum = static_cast<double>(got);
    for (size_t k = 0; k < got; k++) checksum += dets[k].score + dets[k].x1;
  } else {
    std::fprintf(stderr, "unknown case '%s'\n", what.c_str());
    return 2;
  }
  std::printf("%s %s calls=%ld checksum=%.6f variant=%s\n", what.c_str(), variant.c_str(), calls,
              checksum,
              sdk_kernels::kernel_variant(what.compare(0, 3, "nms") == 0 || what.compare(0, 4, "yolo") == 0 ? sdk_kernels::Op::DecodeNMS
                                          : what == "nv12" ? sdk_kernels::Op::PreprocessNV12
                                                           : sdk_kernels::Op::PreprocessPacked));
  return 0;
}
