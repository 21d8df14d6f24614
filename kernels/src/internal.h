// Internal microkernel interface shared by the drivers, the scalar references and the NEON
// variants. Not installed; not part of the public API.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "sdk_kernels/kernels.h"

namespace sdk_kernels {
namespace internal {

// Output pixels per column chunk: the x tables of one chunk live on the stack (multiple of 8).
constexpr size_t kChunk = 256;

// Fixed point of the bilinear resize (the specification, shared by every variant). Per output
// pixel and channel, with a/b the left/right tap of the top row and c/d of the bottom row (u8):
//   vertical:   vL = a * (256 - wy) + c * wy,  vR = b * (256 - wy) + d * wy     u16, exact
//               (wy in [0, 255]: round(fy * 2^8); vL/vR are the value in 1/256 u8 steps)
//   horizontal: h  = vL + 2 * qrdmulh(hsub(vL, vR), nwx)                        u16
//               hsub(p, q) = floor((p - q) / 2) (s16), qrdmulh(x, w) = (2 x w + 2^15) >> 16
//               (NEON vqrdmulh), nwx = -round(fx * 2^15) in [-32768, 0]; h lies in
//               [H - 1, H + 2] of the exact H = vL + (vR - vL) fx, never below 0 (derivation
//               in test/preprocess_test.cc)
//   output:     out = fma(2^23 + h, ks, kb)      2^23 + h is exact: the float whose bits are
//               0x4B000000 | h (NEON: one zip with 0x4B00); ks = norm / 256,
//               kb = -mean * norm - 2^23 * ks (rounded once)
// The normalisation rides in the FMA that also undoes the 2^23 of the conversion.
constexpr int kWyBits = 8;
constexpr int kWxBits = 15;
constexpr float kMagic = 8388608.f;  // 2^23
constexpr uint32_t kMagicBits = 0x4B000000u;

// Horizontal weights of a chunk, in blocks of 8 output pixels j = 0..7, 24 int16 each:
//   [w0..w3 w0..w3 | w4..w7 w4..w7 | w0..w7]
// (the first two halves weight the two 3-channel groups of the NEON packed kernel, the last
// every other case); the scalar reference reads the last copy.
constexpr size_t kWxBlock = 24;
inline size_t wx_index(size_t i) { return (i >> 3) * kWxBlock + 16 + (i & 7); }

// Bytes between the gathered pixels of the NEON tap tables: each 8-byte load sits in the low
// half of a q register of a 64-byte vqtbl4 table on AArch64, in one d register of a 32-byte
// vtbl4 table on ARMv7 (which has no vqtbl4: emulating it cost 3x the instructions).
#if defined(__aarch64__)
constexpr uint32_t kTapStride = 16;
#else
constexpr uint32_t kTapStride = 8;
#endif

// One output row (or part of it) of a packed-format source (GRAY, BGR, RGB, RGBA). PackedFn
// gets the column-chunk fields filled and row0/row1/wy/out of its first row (SrcRows).
struct PackedRow {
  size_t n;                  // output pixels
  size_t fast;               // leading pixels (multiple of 8) whose 8-byte loads stay in the row
  size_t fast_back;          // then, up to here (multiple of 8), the NEON loads end `back`
  size_t back;               // bytes after the left tap's pair: 8 - 2 cn (0 for RGBA)
  const uint8_t* row0;       // source rows sy and sy + 1 (may be equal)
  const uint8_t* row1;
  uint32_t wy;               // weight of row1, 0..255
  size_t cn;                 // bytes per source pixel
  const uint32_t* xofs;      // byte offset of the left source pixel, per output pixel
  const uint32_t* xstep;     // xofs[i + 1] - xofs[i] (last: 0): NEON post-indexed loads
  size_t pairs;              // leading pixels (multiple of 8) whose 2 cn tap bytes lie in the row
  const int16_t* wx;         // negated Q15 weight of the right pixel, blocks of kWxBlock
  size_t out_c;              // 1 or 3
  uint32_t src_ch[3];        // source byte within the pixel for each output channel
  // NEON gather (tbl) indices, built once per call by the driver from cn/src_ch (pixel p's
  // load at byte kTapStride * p): [0] the left/right taps of output channels 0 and 1 of 4 pixels, [1]/[2] channel 2 (GRAY: 0) of
  // pixels 0-3 / 4-7 of a block of 8 (tbl, then tbx). The scalar reference ignores them.
  uint8_t gidx[3][16];
  float ks[3], kb[3];
  float qscale;              // int8 variant only
  void* out[3];              // per output channel: first output element (float or int8)
};

// YUV -> RGB of one tap, integer (both variants), the colour model of PreprocessParams:
//   Y' = max(Y - yoff, 0), U' = U - 128, V' = V - 128
//   yy = qrdmulh(Y' << 7, q[0])
//   R  = sat_u8((sat16(yy + qrdmulh(V' << 7, q[1])) + 32) >> 6)
//   G  = sat_u8((sat16(sat16(yy + qrdmulh(U' << 7, q[2])) + qrdmulh(V' << 7, q[3])) + 32) >> 6)
//   B  = sat_u8((sat16(yy + qrdmulh(U' << 8, q[4])) + 32) >> 6)
// q = round(k * 2^14) for CY, CVR, CUG, CVG and round(CUB * 2^13): each product is k * x in
// 1/64 steps; the final shift rounds to u8 and saturates, as OpenCV rounds and clamps each
// converted pixel (the tap is clamped before the blend, never after).
struct YuvModel {
  int16_t q[5];
  uint8_t yoff;              // 16 (limited range) or 0 (full range)
};

// One output row of an NV12/NV21 source: each of the four taps (full-resolution Y, chroma of
// the 2x2 block the tap lies in, as OpenCV's COLOR_YUV2RGB_NV12 upsamples) is converted to
// u8 RGB (YuvModel), then blended exactly like a packed 3-channel source.
struct Nv12Row {
  size_t n;
  size_t fast;               // leading pixels (multiple of 8) whose 8-byte loads stay in the row
  size_t fast_back;          // then up to here: loads from 6 (luma) / 4 (chroma) bytes before
  const uint8_t* y0;         // luma rows sy0, sy1
  const uint8_t* y1;
  const uint8_t* c0;         // chroma rows sy0 / 2, sy1 / 2
  const uint8_t* c1;
  uint32_t wy;
  const uint32_t* yofs;      // x0, the left luma tap (the right one is x0 + 1)
  const uint32_t* cofs;      // byte offset of the chroma pair of x0: (x0 / 2) * 2
  const int16_t* wx;         // as PackedRow::wx
  // NEON: per block of 8 pixels, 64 bytes of tbl/tbx indices in the 8-byte chroma loads: U of
  // pixels 0-3 and 4-7, then V; the right tap takes the next pair when x0 is odd; blocks from
  // `fast` on include the backward shift of 4.
  const uint8_t* cidx;
  uint32_t u_first;          // 1: U V pairs (NV12), 0: V U (NV21)
  YuvModel yuv;
  float ks[3], kb[3];        // per colour R, G, B
  float qscale;
  void* out[3];              // R, G, B output planes
};

// int8 quantisation (both variants): trunc(v * s + copysign(0.5, v * s)) clamped to +-127.
inline int8_t quantize_s8(float v, float s) {
  float q = v * s;
  q = q > 127.f ? 127.f : (q < -127.f ? -127.f : q);
  q += std::copysign(0.5f, q);
  return static_cast<int8_t>(static_cast<int32_t>(q));
}

// Source rows of one output row: rows sy0, sy1 (sy1 = sy0 when wy = 0) and the weight of sy1.
struct SrcRows {
  const uint8_t* row0;
  const uint8_t* row1;
  uint32_t wy;
};

// Output rows k = 0..count-1 of one column chunk: row k reads rows[k] and writes r.out[c] +
// k * out_stride (elements); r.row0/row1/wy are ignored.
using PackedFn = void (*)(const PackedRow& r, const SrcRows* rows, size_t count, size_t out_stride);
using Nv12Fn = void (*)(const Nv12Row& r, size_t begin);

// Scalar references; `begin` lets the NEON variants hand them their tail (the _row functions:
// one row, r.row0/row1/wy/out, pixels begin..n-1).
void u8_resize_bilinear_normalize_chw__scalar(const PackedRow& r, const SrcRows* rows, size_t count,
                                              size_t out_stride);
void u8_resize_bilinear_normalize_chw_s8__scalar(const PackedRow& r, const SrcRows* rows,
                                                 size_t count, size_t out_stride);
void u8_resize_bilinear_normalize_chw_row__scalar(const PackedRow& r, size_t begin);
void u8_resize_bilinear_normalize_chw_row_s8__scalar(const PackedRow& r, size_t begin);
void nv12_resize_bilinear_normalize_chw__scalar(const Nv12Row& r, size_t begin);
void nv12_resize_bilinear_normalize_chw_s8__scalar(const Nv12Row& r, size_t begin);
void f32_softmax__scalar(const float* x, size_t n, float* y);
size_t f32_topk__scalar(const float* x, size_t n, size_t k, int32_t* idx, float* val);
// Per box: best class score and class id over C score rows (rows at `stride` floats; the
// first maximum wins). cls[i] is only required where best[i] > thr (the driver reads it only
// there): a variant may skip the class search for boxes that cannot pass the threshold.
void f32_class_max__scalar(const float* scores, size_t n, size_t c, size_t stride, float thr,
                           float* best, int32_t* cls, size_t begin);
// Box decode of decode_nms (one definition: every variant decodes with the same float
// expressions): {x1, y1, x2, y2, area} of box b in source pixels.
struct BoxDecoder {
  float sx, sy, ox, oy, cw, ch;
  bool clip;
  size_t rs;  // row stride of the head, floats
  __attribute__((always_inline)) void box(const float* data, size_t b, float* o) const {
    const float cx = data[b], cy = data[rs + b], bw = data[2 * rs + b], bh = data[3 * rs + b];
    float a = (cx - 0.5f * bw - ox) * sx, c = (cx + 0.5f * bw - ox) * sx;
    float e = (cy - 0.5f * bh - oy) * sy, f = (cy + 0.5f * bh - oy) * sy;
    if (clip) {
      a = std::clamp(a, 0.f, cw);
      c = std::clamp(c, 0.f, cw);
      e = std::clamp(e, 0.f, ch);
      f = std::clamp(f, 0.f, ch);
    }
    o[0] = a;
    o[1] = e;
    o[2] = c;
    o[3] = f;
    o[4] = (c - a) * (f - e);
  }
};
// Kept boxes of every class: class c owns boxes [base[c], base[c + 1]) (base a multiple of 4)
// of `kept`, in blocks of 4 boxes: kKeptBlock floats each, {x1 y1 x2 y2}[4] then area[4] (box
// j: coordinate f at kept[kKeptBlock * (j / 4) + 4 (j % 4) + f], its area at
// kept[kKeptBlock * (j / 4) + 16 + j % 4]: a box is one 16-byte store, a block's coordinates
// one de-interleaving load, NEON LD4); nkept[c] are in use and the
// lanes of a class's last block past them hold NaN (a NaN box never overlaps: the NEON
// variant reads whole blocks); min_area[c] is the smallest kept area of class c that is not
// NaN (std::fmin; NaN only while every kept area is NaN).
constexpr size_t kKeptBlock = 20;
// One pass of greedy class-aware suppression over candidates already in processing order:
// key[k]'s low 32 bits are class * n + box index (its class and box), best[box] its score.
// A candidate is dropped if its class has kept boxes and (degenerate_overlap and its area +
// min_area[class] <= DBL_EPSILON: OpenCV's full overlap of degenerate pairs, IoU 1) or some
// kept box of its class has s = area_a + area_b > DBL_EPSILON and inter > thr * (s - inter)
// (IoU > thr; equality keeps); otherwise it is kept (appended to its class) and written to
// out[nk++]. Stops when nk == max_det. Returns nk. (With degenerate_overlap every pair that
// reaches the IoU test has s > DBL_EPSILON or NaN: the NEON variant relies on it.)
struct NmsPass {
  const uint64_t* key;
  size_t count;
  size_t n;
  uint64_t inv_n;  // floor(2^32 / n) (the division of key by n as a multiply on ARMv7)
  const float* data;
  BoxDecoder dec;
  const float* best;
  float thr;
  bool degenerate_overlap;
  size_t max_det;
  const int32_t* base;
  int32_t* nkept;
  float* min_area;
  float* kept;
};
// class = lo / n, box = lo % n, for lo < 2^32 (AArch64 has a one-instruction UDIV; ARMv7-A
// without the virtualisation extensions calls a library routine: a multiply by floor(2^32 / n)
// is at most one short, and one step corrects it).
inline void split_key(uint32_t lo, const NmsPass& p, size_t& c, size_t& i) {
#if defined(__aarch64__) || defined(__x86_64__)
  c = lo / p.n;
#else
  uint32_t q = static_cast<uint32_t>((uint64_t(lo) * p.inv_n) >> 32);
  if (lo - q * uint32_t(p.n) >= uint32_t(p.n)) q++;
  c = q;
#endif
  i = lo - c * p.n;
}
size_t f32_nms_suppress__scalar(const NmsPass& p, Detection* out, size_t nk);
// The reference IoU test of candidate b ({x1, y1, x2, y2, area}) against the first n kept boxes
// of a class region at blk: some kept box with s = area_b + area_j > DBL_EPSILON and
// inter > thr * (s - inter)?
bool f32_iou_any_ref(const float* blk, size_t n, const float* b, float thr);
// One row of argmax over channels: x points at channel 0 of the row, planes `ps` apart.
void f32_argmax_chw_u8__scalar(const float* x, size_t c, size_t w, size_t ps, uint8_t* out,
                               size_t begin);
void f32_binarize_u8__scalar(const float* p, size_t n, float thr, uint8_t* m, size_t begin);

#if defined(SDK_KERNELS_HAVE_NEON)
#if defined(__aarch64__)
// The 3-channel float rows with r.pairs >= 8 (preprocess_ld3_a64.cc): blocks [0, pairs), then
// each row's scalar tail.
void packed3_ld3_f32_rows(const PackedRow& r, const SrcRows* rows, size_t count, size_t out_stride);
#endif
void u8_resize_bilinear_normalize_chw__neon(const PackedRow& r, const SrcRows* rows, size_t count,
                                            size_t out_stride);
void u8_resize_bilinear_normalize_chw_s8__neon(const PackedRow& r, const SrcRows* rows, size_t count,
                                               size_t out_stride);
void nv12_resize_bilinear_normalize_chw__neon(const Nv12Row& r, size_t begin);
void nv12_resize_bilinear_normalize_chw_s8__neon(const Nv12Row& r, size_t begin);
void f32_softmax__neon(const float* x, size_t n, float* y);
size_t f32_topk__neon(const float* x, size_t n, size_t k, int32_t* idx, float* val);
void f32_class_max__neon(const float* scores, size_t n, size_t c, size_t stride, float thr,
                         float* best, int32_t* cls, size_t begin);
size_t f32_nms_suppress__neon(const NmsPass& p, Detection* out, size_t nk);
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
  size_t (*suppress)(const NmsPass&, Detection*, size_t);
  void (*argmax)(const float*, size_t, size_t, size_t, uint8_t*, size_t);
  void (*binarize)(const float*, size_t, float, uint8_t*, size_t);
  bool neon;
};
const Dispatch& dispatch();

}  // namespace internal
}  // namespace sdk_kernels
