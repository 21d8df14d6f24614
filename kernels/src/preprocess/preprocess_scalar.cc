// Scalar reference of the fused preprocessing microkernels: the specification and the tail
// of the NEON variants. See internal.h for the fixed-point definition; every helper below is
// the scalar meaning of one NEON instruction, so the variants agree bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../internal.h"

namespace sdk_kernels {
namespace internal {
namespace {

// Vertical blend of one byte: a * (256 - wy) + c * wy, exact in u16.
inline uint32_t vblend(const uint8_t* r0, const uint8_t* r1, size_t o, uint32_t wy) {
  return r0[o] * (256u - wy) + r1[o] * wy;
}

// vqrdmulh.s16: (2 x w + 2^15) >> 16, saturated (only -32768 * -32768 would saturate).
inline int32_t qrdmulh(int32_t x, int32_t w) {
  const int64_t r = (2 * static_cast<int64_t>(x) * w + (1 << 15)) >> 16;
  return r > 32767 ? 32767 : static_cast<int32_t>(r);
}

// vqadd.s16
inline int32_t qadd(int32_t a, int32_t b) {
  const int32_t s = a + b;
  return s > 32767 ? 32767 : (s < -32768 ? -32768 : s);
}

// Horizontal blend (internal.h): vL + 2 * qrdmulh(hsub(vL, vR), nwx), as u16.
inline uint32_t hblend(uint32_t vl, uint32_t vr, int16_t nwx) {
  const int32_t d = (static_cast<int32_t>(vl) - static_cast<int32_t>(vr)) >> 1;  // vhsub.u16
  return static_cast<uint16_t>(vl + 2 * qrdmulh(d, nwx));                       // vmla.u16
}

inline float to_out(uint32_t h, float ks, float kb) {
  const uint32_t bits = kMagicBits | h;
  float f;
  std::memcpy(&f, &bits, 4);
  return std::fma(f, ks, kb);
}

inline void store(float* p, float v, float) { *p = v; }
inline void store(int8_t* p, float v, float s) { *p = quantize_s8(v, s); }

// Pixels begin..n-1 of one output row: source rows y, outputs out[c]. (The row is passed apart
// from r, never as a modified local copy of r: GCC 12 at -O2 dropped every store of the float
// instance when a copy's address was passed here from the same file.)
template <typename T>
void packed_row(const PackedRow& r, const SrcRows& y, T* const out[3], size_t begin) {
  for (size_t i = begin; i < r.n; i++) {
    const size_t lo = r.xofs[i];
    const int16_t w = r.wx[wx_index(i)];
    for (size_t c = 0; c < r.out_c; c++) {
      const size_t o = lo + r.src_ch[c];
      const uint32_t vl = vblend(y.row0, y.row1, o, y.wy);
      const uint32_t vr = w ? vblend(y.row0, y.row1, o + r.cn, y.wy) : vl;  // w=0 at width 1
      store(out[c] + i, to_out(hblend(vl, vr, w), r.ks[c], r.kb[c]), r.qscale);
    }
  }
}

// vqrshrun.s16 #6: (x + 32) >> 6 clamped to [0, 255].
inline uint32_t narrow6(int32_t x) {
  const int32_t v = (x + 32) >> 6;
  return static_cast<uint32_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One tap: luma y, chroma u, v -> R, G, B (internal.h, YuvModel).
inline void yuv_to_rgb(const YuvModel& m, uint32_t y, uint32_t u, uint32_t v, uint32_t rgb[3]) {
  const int32_t yp = y > m.yoff ? static_cast<int32_t>(y - m.yoff) : 0;  // vqsub.u8
  const int32_t up = static_cast<int32_t>(u) - 128, vp = static_cast<int32_t>(v) - 128;
  const int32_t yy = qrdmulh(yp * 128, m.q[0]);
  rgb[0] = narrow6(qadd(yy, qrdmulh(vp * 128, m.q[1])));
  rgb[1] = narrow6(qadd(qadd(yy, qrdmulh(up * 128, m.q[2])), qrdmulh(vp * 128, m.q[3])));
  rgb[2] = narrow6(qadd(yy, qrdmulh(up * 256, m.q[4])));
}

// RGB of the tap at luma column x of a row pair (luma row, its chroma row).
inline void tap_rgb(const Nv12Row& r, const uint8_t* yrow, const uint8_t* crow, size_t x,
                    uint32_t rgb[3]) {
  const size_t c = (x >> 1) * 2;
  const uint32_t a = crow[c], b = crow[c + 1];
  yuv_to_rgb(r.yuv, yrow[x], r.u_first ? a : b, r.u_first ? b : a, rgb);
}

template <typename T>
void nv12_row(const Nv12Row& r, size_t begin) {
  for (size_t i = begin; i < r.n; i++) {
    const size_t x0 = r.yofs[i];
    const int16_t w = r.wx[wx_index(i)];
    const size_t x1 = w ? x0 + 1 : x0;  // w=0: the right tap has no weight (may not exist)
    uint32_t a[3], b[3], c[3], d[3];
    tap_rgb(r, r.y0, r.c0, x0, a);
    tap_rgb(r, r.y0, r.c0, x1, b);
    tap_rgb(r, r.y1, r.c1, x0, c);
    tap_rgb(r, r.y1, r.c1, x1, d);
    for (size_t k = 0; k < 3; k++) {
      const uint32_t vl = a[k] * (256u - r.wy) + c[k] * r.wy;
      const uint32_t vr = b[k] * (256u - r.wy) + d[k] * r.wy;
      store(static_cast<T*>(r.out[k]) + i, to_out(hblend(vl, vr, w), r.ks[k], r.kb[k]), r.qscale);
    }
  }
}

template <typename T>
void packed_rows(const PackedRow& r, const SrcRows* rows, size_t count, size_t stride) {
  for (size_t k = 0; k < count; k++) {
    T* out[3] = {};
    for (size_t c = 0; c < r.out_c; c++) out[c] = static_cast<T*>(r.out[c]) + k * stride;
    packed_row<T>(r, rows[k], out, 0);
  }
}

template <typename T>
void packed_row_of(const PackedRow& r, size_t begin) {
  T* const out[3] = {static_cast<T*>(r.out[0]), static_cast<T*>(r.out[1]), static_cast<T*>(r.out[2])};
  packed_row<T>(r, SrcRows{r.row0, r.row1, r.wy}, out, begin);
}

}  // namespace

void u8_resize_bilinear_normalize_chw__scalar(const PackedRow& r, const SrcRows* rows, size_t count,
                                              size_t out_stride) {
  packed_rows<float>(r, rows, count, out_stride);
}
void u8_resize_bilinear_normalize_chw_s8__scalar(const PackedRow& r, const SrcRows* rows,
                                                 size_t count, size_t out_stride) {
  packed_rows<int8_t>(r, rows, count, out_stride);
}
void u8_resize_bilinear_normalize_chw_row__scalar(const PackedRow& r, size_t begin) {
  packed_row_of<float>(r, begin);
}
void u8_resize_bilinear_normalize_chw_row_s8__scalar(const PackedRow& r, size_t begin) {
  packed_row_of<int8_t>(r, begin);
}
void nv12_resize_bilinear_normalize_chw__scalar(const Nv12Row& r, size_t begin) {
  nv12_row<float>(r, begin);
}
void nv12_resize_bilinear_normalize_chw_s8__scalar(const Nv12Row& r, size_t begin) {
  nv12_row<int8_t>(r, begin);
}

}  // namespace internal
}  // namespace sdk_kernels
