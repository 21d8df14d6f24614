// Internal microkernel interface shared by the drivers, the scalar references and the NEON
// variants. Not installed; not part of the public API.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "sdk_kernels/kernels.h"

namespace sdk_kernels {
namespace internal {

// Output pixels per column chunk: the x tables of one chunk live on the stack.
constexpr size_t kChunk = 256;

// Fixed point of the bilinear resize (the specification, shared by every variant):
//   vertical:   v   = (r0 << 8) + (r1 - r0) * wy          wy in [0, 255], u16, exact
//   horizontal: acc = vL * wl + vR * wr                    wl + wr = 32768, u32, exact
//   output:     out = fma(float(acc), ks, kb)              ks = norm / 2^23, kb = -mean * norm
constexpr int kWyBits = 8;
constexpr int kWxBits = 15;
constexpr float kAccScale = 1.0f / float(1 << (kWyBits + kWxBits));

// One output row (or part of it) of a packed-format source (GRAY, BGR, RGB, RGBA).
struct PackedRow {
  size_t n;                  // output pixels
  size_t fast;               // leading pixels (multiple of 4) whose 8-byte loads stay in the row
  const uint8_t* row0;       // source rows sy and sy + 1 (may be equal)
  const uint8_t* row1;
  uint32_t wy;               // weight of row1, 0..255
  size_t row_bytes;          // valid bytes per source row (width * cn)
  size_t cn;                 // bytes per source pixel
  const uint32_t* xofs;      // byte offset of the left source pixel, per output pixel
  const uint16_t* wx;        // blocks of 4 pixels: [wl0 wl1 wl2 wl3 wr0 wr1 wr2 wr3]
  size_t out_c;              // 1 or 3
  uint32_t src_ch[3];        // source byte within the pixel for each output channel
  float ks[3], kb[3];
  float qscale;              // int8 variant only
  void* out[3];              // per output channel: first output element (float or int8)
};

// One output row of an NV12/NV21 source: Y bilinear at full resolution, chroma bilinear on
// the half-resolution plane, then BT.601 limited range (OpenCV's coefficients), clamped to
// [0, 255] and normalised, all folded into per-channel constants:
//   out_c = clamp(fma(V, kv, fma(U, ku, fma(Y, ky, k0))), lo, hi)
struct Nv12Row {
  size_t n;
  size_t fast;               // leading pixels (multiple of 4): Y pair and chroma quad in the row
  const uint8_t* y0;
  const uint8_t* y1;
  uint32_t wy;
  size_t y_bytes;
  const uint32_t* yofs;      // byte offset of the left Y sample
  const uint16_t* ywx;       // interleaved per pixel: [wl0 wr0 wl1 wr1 ...]
  const uint8_t* c0;
  const uint8_t* c1;
  uint32_t wc;
  size_t c_bytes;
  const uint32_t* cofs;      // byte offset of the left chroma pair
  const uint16_t* cwx;       // interleaved like ywx
  float ky[3], ku[3], kv[3], k0[3], lo[3], hi[3];
  float qscale;
  void* out[3];
};

inline size_t wl_index(size_t i) { return (i & ~size_t(3)) * 2 + (i & 3); }
inline size_t wr_index(size_t i) { return (i & ~size_t(3)) * 2 + 4 + (i & 3); }

// int8 quantisation (both variants): trunc(v * s + copysign(0.5, v * s)) clamped to +-127.
inline int8_t quantize_s8(float v, float s) {
  float q = v * s;
  q = q > 127.f ? 127.f : (q < -127.f ? -127.f : q);
  q += std::copysign(0.5f, q);
  return static_cast<int8_t>(static_cast<int32_t>(q));
}

using PackedFn = void (*)(const PackedRow& r, size_t begin);
using Nv12Fn = void (*)(const Nv12Row& r, size_t begin);

// Scalar references; `begin` lets the NEON variants hand them their tail.
void u8_resize_bilinear_normalize_chw__scalar(const PackedRow& r, size_t begin);
void u8_resize_bilinear_normalize_chw_s8__scalar(const PackedRow& r, size_t begin);
void nv12_resize_bilinear_normalize_chw__scalar(const Nv12Row& r, size_t begin);
void nv12_resize_bilinear_normalize_chw_s8__scalar(const Nv12Row& r, size_t begin);
void f32_softmax__scalar(const float* x, size_t n, float* y);
size_t f32_topk__scalar(const float* x, size_t n, size_t k, int32_t* idx, float* val);
// Per box: best class score and class id over C score rows (rows at `stride` floats; the
// first maximum wins). cls[i] is only required where best[i] > thr (the driver reads it only
// there): a variant may skip the class search for boxes that cannot pass the threshold.
void f32_class_max__scalar(const float* scores, size_t n, size_t c, size_t stride, float thr,
                           float* best, int32_t* cls, size_t begin);
// Kept boxes of one class, structure of arrays (x1, y1, x2, y2, area), and one candidate.
struct KeptBoxes {
  const float *x1, *y1, *x2, *y2, *area;
  size_t n;
};
// Whether the candidate `box` ({x1, y1, x2, y2, area}) overlaps some kept box with IoU > thr,
// evaluated as inter > thr * ((area_a + area_b) - inter). The NEON variant reads whole blocks
// of 4: lanes past n must hold NaN (never overlap); the driver pads them.
bool f32_iou_any__scalar(const KeptBoxes& kept, const float* box, float thr);
// One row of argmax over channels: x points at channel 0 of the row, planes `ps` apart.
void f32_argmax_chw_u8__scalar(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                               size_t begin);
void f32_binarize_u8__scalar(const float* p, size_t n, float thr, uint8_t* m, size_t begin);

#if defined(SDK_KERNELS_HAVE_NEON)
void u8_resize_bilinear_normalize_chw__neon(const PackedRow& r, size_t begin);
void u8_resize_bilinear_normalize_chw_s8__neon(const PackedRow& r, size_t begin);
void nv12_resize_bilinear_normalize_chw__neon(const Nv12Row& r, size_t begin);
void nv12_resize_bilinear_normalize_chw_s8__neon(const Nv12Row& r, size_t begin);
void f32_softmax__neon(const float* x, size_t n, float* y);
size_t f32_topk__neon(const float* x, size_t n, size_t k, int32_t* idx, float* val);
void f32_class_max__neon(const float* scores, size_t n, size_t c, size_t stride, float thr,
                         float* best, int32_t* cls, size_t begin);
bool f32_iou_any__neon(const KeptBoxes& kept, const float* box, float thr);
void f32_argmax_chw_u8__neon(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                             size_t begin);
void f32_binarize_u8__neon(const float* p, size_t n, float thr, uint8_t* m, size_t begin);
#endif

struct Dispatch {
  PackedFn packed_f32, packed_s8;
  Nv12Fn nv12_f32, nv12_s8;
  void (*softmax)(const float*, size_t, float*);
  size_t (*topk)(const float*, size_t, size_t, int32_t*, float*);
  void (*class_max)(const float*, size_t, size_t, size_t, float, float*, int32_t*, size_t);
  bool (*iou_any)(const KeptBoxes&, const float*, float);
  void (*argmax)(const float*, size_t, size_t, size_t, uint8_t*, size_t);
  void (*binarize)(const float*, size_t, float, uint8_t*, size_t);
  bool neon;
};
const Dispatch& dispatch();

}  // namespace internal
}  // namespace sdk_kernels
