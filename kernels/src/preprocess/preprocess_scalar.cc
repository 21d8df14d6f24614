// Scalar reference of the fused preprocessing microkernels: the specification and the tail
// of the NEON variants. See internal.h for the fixed-point definition.
#include <cmath>
#include <cstdint>

#include "../internal.h"

namespace sdk_kernels {
namespace internal {
namespace {

inline uint32_t vblend(const uint8_t* r0, const uint8_t* r1, size_t o, uint32_t wy) {
  // (r0 << 8) + (r1 - r0) * wy, computed modulo 2^16 exactly like the NEON variant.
  const uint32_t a = r0[o], b = r1[o];
  return static_cast<uint16_t>((a << 8) + b * wy - a * wy);
}

inline void store(float* p, float v, float) { *p = v; }
inline void store(int8_t* p, float v, float s) { *p = quantize_s8(v, s); }

template <typename T>
void packed_row(const PackedRow& r, size_t begin) {
  for (size_t i = begin; i < r.n; i++) {
    const size_t lo = r.xofs[i];
    const uint32_t wl = r.wx[wl_index(i)], wr = r.wx[wr_index(i)];
    for (size_t c = 0; c < r.out_c; c++) {
      const size_t o = lo + r.src_ch[c];
      const uint32_t vl = vblend(r.row0, r.row1, o, r.wy);
      const uint32_t vr = wr ? vblend(r.row0, r.row1, o + r.cn, r.wy) : 0;  // wr=0 at width 1
      const uint32_t acc = vl * wl + vr * wr;
      const float v = std::fma(static_cast<float>(acc), r.ks[c], r.kb[c]);
      store(static_cast<T*>(r.out[c]) + i, v, r.qscale);
    }
  }
}

template <typename T>
void nv12_row(const Nv12Row& r, size_t begin) {
  for (size_t i = begin; i < r.n; i++) {
    const size_t yo = r.yofs[i], co = r.cofs[i];
    const uint32_t ywl = r.ywx[2 * i], ywr = r.ywx[2 * i + 1];
    const uint32_t cwl = r.cwx[2 * i], cwr = r.cwx[2 * i + 1];
    const uint32_t y = vblend(r.y0, r.y1, yo, r.wy) * ywl +
                       (ywr ? vblend(r.y0, r.y1, yo + 1, r.wy) * ywr : 0);
    const uint32_t u = vblend(r.c0, r.c1, co, r.wc) * cwl +
                       (cwr ? vblend(r.c0, r.c1, co + 2, r.wc) * cwr : 0);
    const uint32_t v = vblend(r.c0, r.c1, co + 1, r.wc) * cwl +
                       (cwr ? vblend(r.c0, r.c1, co + 3, r.wc) * cwr : 0);
    const float yf = static_cast<float>(y), uf = static_cast<float>(u);
    const float vf = static_cast<float>(v);
    for (size_t c = 0; c < 3; c++) {
      float a = std::fma(yf, r.ky[c], r.k0[c]);
      a = std::fma(uf, r.ku[c], a);
      a = std::fma(vf, r.kv[c], a);
      a = std::fmin(std::fmax(a, r.lo[c]), r.hi[c]);
      store(static_cast<T*>(r.out[c]) + i, a, r.qscale);
    }
  }
}

}  // namespace

void u8_resize_bilinear_normalize_chw__scalar(const PackedRow& r, size_t begin) {
  packed_row<float>(r, begin);
}
void u8_resize_bilinear_normalize_chw_s8__scalar(const PackedRow& r, size_t begin) {
  packed_row<int8_t>(r, begin);
}
void nv12_resize_bilinear_normalize_chw__scalar(const Nv12Row& r, size_t begin) {
  nv12_row<float>(r, begin);
}
void nv12_resize_bilinear_normalize_chw_s8__scalar(const Nv12Row& r, size_t begin) {
  nv12_row<int8_t>(r, begin);
}

}  // namespace internal
}  // namespace sdk_kernels
