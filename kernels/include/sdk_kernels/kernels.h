// sdk_kernels: pre/post-processing kernels for vision models on ARM boards.
//
// Plain functions with sizes and byte strides. They never allocate, throw or know about
// Python. Each op has a scalar reference (`*__scalar`, the specification and the tail) and a
// NEON variant (`*__neon`); one dispatch point per op picks the variant from the CPU features
// at run time and can name what it picked (kernel_variant()).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sdk_kernels {

// ---------------------------------------------------------------- preprocessing (fused)

enum class PixelFormat : int { BGR = 0, RGB = 1, RGBA = 2, GRAY = 3, NV12 = 4, NV21 = 5 };

// Bytes per pixel of the packed formats; 1 for the Y plane of NV12/NV21.
int pixel_format_channels(PixelFormat fmt);

struct Image {
  PixelFormat format;
  const uint8_t* data;       // packed pixels, or the Y plane of NV12/NV21
  size_t stride;             // bytes between rows (>= width * channels)
  const uint8_t* uv;         // NV12/NV21: interleaved chroma plane (height/2 rows), else null
  size_t uv_stride;          // bytes between chroma rows (>= width)
  int width;
  int height;
};

struct PreprocessParams {
  int out_width;
  int out_height;
  bool rgb_out;              // output channel order RGB (true) or BGR (false); GRAY -> 1 channel
  float mean[3];             // in output channel order, in u8 units
  float norm[3];             // out = (x - mean) * norm
  bool letterbox;            // keep aspect ratio, centre, pad the rest
  uint8_t pad;               // letterbox pad value (u8 units, before normalisation)
  // NV12/NV21 colour model. false (default): BT.601 limited range, OpenCV's COLOR_YUV2RGB_NV12
  // (R = 1.164 (Y - 16) + 1.596 (V - 128), ..., OpenCV's coefficients); true: BT.601 full
  // range (JPEG/JFIF: R = Y + 1.402 (V - 128), G = Y - 0.344 (U - 128) - 0.714 (V - 128),
  // B = Y + 1.772 (U - 128)). Either way each source pixel takes the chroma of its 2x2 block
  // and is converted and clamped to u8 before the resize, as cvtColor + resize does.
  bool yuv_full_range;
};

// Where the source landed in the output: src_x = (out_x - offset_x) / scale_x.
struct LetterboxInfo {
  float scale_x, scale_y;
  int offset_x, offset_y;    // top-left of the resized region in the output
  int resized_width, resized_height;
};

// Output planes (out_channels(params) x out_height x out_width, contiguous CHW).
int preprocess_out_channels(const Image& src);
// Layout of the resized region (also what preprocess_* report).
LetterboxInfo preprocess_layout(const Image& src, const PreprocessParams& params);

// Returns false (and writes nothing) if the arguments are inconsistent; see check_preprocess.
bool preprocess_f32(const Image& src, const PreprocessParams& params, float* dst,
                    LetterboxInfo* info);
// int8 variant: q = clamp(trunc(v * input_scale + copysign(0.5, .)), -127, 127) where v is the
// float output above (ncnn's convention for the int8 input blob).
bool preprocess_s8(const Image& src, const PreprocessParams& params, float input_scale,
                   int8_t* dst, LetterboxInfo* info);
// nullptr if the arguments are fine, else a static message naming the problem.
const char* check_preprocess(const Image& src, const PreprocessParams& params);

// ---------------------------------------------------------------- classification

// y = softmax(x); y may alias x.
void softmax_f32(const float* x, size_t n, float* y);
// Indices of the k largest values, largest first; ties keep the lower index first.
// Returns the number written (min(k, n)). Needs no workspace: O(n * k) selection for small k.
size_t topk_f32(const float* x, size_t n, size_t k, int32_t* indices, float* values);

// ---------------------------------------------------------------- detection

struct Detection {
  float x1, y1, x2, y2;      // in source-image pixels
  float score;
  int32_t class_id;
};

struct DecodeParams {
  size_t num_boxes;          // N (e.g. 8400)
  size_t num_classes;        // C (e.g. 80)
  // YOLOv8-style output [4 + C, N] channel-major: row k at data + k * row_stride floats;
  // rows 0..3 are cx, cy, w, h in network-input pixels, rows 4.. the class scores.
  size_t row_stride;         // in floats, >= num_boxes
  float score_threshold;
  float iou_threshold;
  size_t max_detections;
  LetterboxInfo letterbox;   // map back: x = (x - offset_x) / scale_x
  float clip_width;          // clip boxes to [0, clip_width] x [0, clip_height]; <= 0: no clip
  float clip_height;
};

// Bytes of scratch memory decode_nms needs (8-byte aligned pointer expected).
size_t decode_nms_workspace_size(size_t num_boxes, size_t num_classes);
// Decodes, thresholds, runs class-aware NMS with OpenCV's cv::dnn::NMSBoxes rules applied per
// class (candidates score > score_threshold; greedy by score descending, ties by lower box
// index; a box is dropped if IoU > iou_threshold with a kept box of its class, equality keeps;
// boxes whose areas sum to <= DBL_EPSILON overlap fully), writes at most max_detections
// sorted by score descending (ties: class, then box index): the first max_detections of the
// merged per-class result, found without running NMS past them. Returns the number written;
// 0 if num_boxes * num_classes >= 2^32 (the sort keys pack class * num_boxes + index).
size_t decode_nms(const float* data, const DecodeParams& params, void* workspace,
                  Detection* out);

// ---------------------------------------------------------------- segmentation / OCR

// labels[y][x] = argmax_c x[c][y][x] (first max wins); planar input [C][H][W] with
// plane_stride floats between channels and row_stride floats between rows; C <= 256.
void argmax_chw_u8(const float* x, size_t channels, size_t height, size_t width,
                   size_t row_stride, size_t plane_stride, uint8_t* labels,
                   size_t label_stride);
// DB text detector: mask = prob > threshold ? 255 : 0 (strides in elements / bytes).
void binarize_f32_u8(const float* prob, size_t height, size_t width, size_t prob_stride,
                     float threshold, uint8_t* mask, size_t mask_stride);

// ---------------------------------------------------------------- dispatch

enum class Op : int {
  PreprocessPacked = 0, PreprocessNV12, Softmax, TopK, DecodeNMS, Argmax, Binarize, Count
};
const char* op_name(Op op);
// Name of the variant the dispatcher picked for `op` on this CPU, e.g.
// "u8_resize_bilinear_normalize_chw__neon".
const char* kernel_variant(Op op);
// "neon" or "scalar": what the CPU offers and this build can use.
const char* cpu_isa();
// Force the scalar reference everywhere (tests, benchmarks). Not thread-safe; call first.
void force_scalar(bool on);

}  // namespace sdk_kernels
