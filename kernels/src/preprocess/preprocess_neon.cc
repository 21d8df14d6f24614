// NEON variant of the fused preprocessing: 8 output pixels per iteration, then the shared
// scalar tail. Per source row, each pixel's left/right taps are one 8-byte load (a gather:
// at 1920 -> 224 the taps are 8.6 source pixels apart); tbl/tbx over two 4-load tables
// de-interleaves them into [left 0..7 | right 0..7] bytes per channel; the vertical blend
// (umull + umlal, or a shift where the weight is 0), the horizontal blend (uhsub, sqrdmulh,
// mla) and the conversion (zip with 0x4B00, one FMA that also applies mean and norm) follow
// internal.h exactly: bit-exact with the scalar reference, int8 and float alike.
#include "../internal.h"
#include "../neon_util.h"

// llvm-mca regions around the inner loops (sdk kernels bench compiles this file to assembly
// with -DSDK_KERNELS_MCA_MARKERS; never defined in a real build).
#if defined(SDK_KERNELS_MCA_MARKERS)
#define SDK_MCA_BEGIN(name) __asm__ volatile("# LLVM-MCA-BEGIN " name)
#define SDK_MCA_END() __asm__ volatile("# LLVM-MCA-END")
#else
#define SDK_MCA_BEGIN(name) ((void)0)
#define SDK_MCA_END() ((void)0)
#endif

// Everything the loops call is inlined (an out-of-line helper spills every q register).
#define SDK_INLINE inline __attribute__((always_inline))

namespace sdk_kernels {
namespace internal {
namespace {

// ------------------------------------------------------------------ 64-byte table lookups

#if defined(__aarch64__)
using Table4 = uint8x16x4_t;
SDK_INLINE uint8x16_t tbl4(const Table4& t, uint8x16_t i) { return vqtbl4q_u8(t, i); }
SDK_INLINE uint8x16_t tbx4(uint8x16_t d, const Table4& t, uint8x16_t i) { return vqtbx4q_u8(d, t, i); }
#else
struct Table4 {
  uint8x16_t val[4];
};
// armv7: two 32-byte vtbx4 per 8 indices (indices >= 64 keep d, as on aarch64).
SDK_INLINE uint8x8_t tbx64(uint8x8_t d, const Table4& t, uint8x8_t i) {
  const uint8x8x4_t lo = {{vget_low_u8(t.val[0]), vget_high_u8(t.val[0]), vget_low_u8(t.val[1]),
                           vget_high_u8(t.val[1])}};
  const uint8x8x4_t hi = {{vget_low_u8(t.val[2]), vget_high_u8(t.val[2]), vget_low_u8(t.val[3]),
                           vget_high_u8(t.val[3])}};
  return vtbx4_u8(vtbx4_u8(d, lo, i), hi, vsub_u8(i, vdup_n_u8(32)));
}
SDK_INLINE uint8x16_t tbx4(uint8x16_t d, const Table4& t, uint8x16_t i) {
  return vcombine_u8(tbx64(vget_low_u8(d), t, vget_low_u8(i)),
                     tbx64(vget_high_u8(d), t, vget_high_u8(i)));
}
SDK_INLINE uint8x16_t tbl4(const Table4& t, uint8x16_t i) { return tbx4(vdupq_n_u8(0), t, i); }
#endif

// Four 8-byte loads at row + o[0..3] (upper halves zero: one `ldr d` each).
SDK_INLINE Table4 load4(const uint8_t* row, const uint32_t* o) {
  const uint8x8_t z = vdup_n_u8(0);
  Table4 t;
  t.val[0] = vcombine_u8(vld1_u8(row + o[0]), z);
  t.val[1] = vcombine_u8(vld1_u8(row + o[1]), z);
  t.val[2] = vcombine_u8(vld1_u8(row + o[2]), z);
  t.val[3] = vcombine_u8(vld1_u8(row + o[3]), z);
  return t;
}

// [left 0..7 | right 0..7] of one channel of 8 pixels: tbl over pixels 0-3, tbx over 4-7.
SDK_INLINE uint8x16_t taps8(const uint8_t* row, const uint32_t* o, uint8x16_t ia, uint8x16_t ib) {
  return tbx4(tbl4(load4(row, o), ia), load4(row, o + 4), ib);
}

// ------------------------------------------------------------------ blends and output

struct U16x2 {
  uint16x8_t l, r;  // vL and vR of 8 lanes
};

struct VWeights {
  uint8x16_t w0, w1;  // 256 - wy, wy (wy != 0)
};

// Vertical blend of [left | right] bytes of the two rows: a * (256 - wy) + c * wy (u16).
template <bool kWy0>
SDK_INLINE U16x2 vblend16(uint8x16_t a, uint8x16_t c, const VWeights& w) {
  if (kWy0) return {vshll_n_u8(vget_low_u8(a), 8), vshll_n_u8(vget_high_u8(a), 8)};
#if defined(__aarch64__)
  const uint16x8_t l = vmlal_u8(vmull_u8(vget_low_u8(a), vget_low_u8(w.w0)), vget_low_u8(c),
                                vget_low_u8(w.w1));
  const uint16x8_t r = vmlal_high_u8(vmull_high_u8(a, w.w0), c, w.w1);
#else
  const uint16x8_t l = vmlal_u8(vmull_u8(vget_low_u8(a), vget_low_u8(w.w0)), vget_low_u8(c),
                                vget_low_u8(w.w1));
  const uint16x8_t r = vmlal_u8(vmull_u8(vget_high_u8(a), vget_high_u8(w.w0)), vget_high_u8(c),
                                vget_high_u8(w.w1));
#endif
  return {l, r};
}

// h = vL + 2 * qrdmulh(hsub(vL, vR), nwx)
SDK_INLINE uint16x8_t hblend(const U16x2& v, int16x8_t nwx, uint16x8_t two) {
  const int16x8_t d = vreinterpretq_s16_u16(vhsubq_u16(v.l, v.r));
  return vmlaq_u16(v.l, vreinterpretq_u16_s16(vqrdmulhq_s16(d, nwx)), two);
}

// ks and kb of the (up to three) output channels, channel c in lane c.
struct Norm {
  float32x4_t ks, kb;
};

SDK_INLINE Norm norm3(const float ks[3], const float kb[3]) {
  const float a[4] = {ks[0], ks[1], ks[2], 0.f}, b[4] = {kb[0], kb[1], kb[2], 0.f};
  return {vld1q_f32(a), vld1q_f32(b)};
}

// fma(x, ks[c], kb[c])
template <int kC>
SDK_INLINE float32x4_t fma_lane(float32x4_t x, const Norm& n) {
#if defined(__aarch64__)
  return vfmaq_laneq_f32(vdupq_laneq_f32(n.kb, kC), x, n.ks, kC);
#else
  return vfmaq_f32(vdupq_n_f32(vgetq_lane_f32(n.kb, kC)), x, vdupq_n_f32(vgetq_lane_f32(n.ks, kC)));
#endif
}

// 2^23 + h of lanes 0-3 (channel kA) and 4-7 (channel kB), then the FMA: two float vectors.
struct F32x2 {
  float32x4_t lo, hi;
};
template <int kA, int kB>
SDK_INLINE F32x2 cvt8(uint16x8_t h, const Norm& n) {
  const uint16x8_t m = vdupq_n_u16(kMagicBits >> 16);
#if defined(__aarch64__)
  return {fma_lane<kA>(vreinterpretq_f32_u16(vzip1q_u16(h, m)), n),
          fma_lane<kB>(vreinterpretq_f32_u16(vzip2q_u16(h, m)), n)};
#else
  const uint16x8x2_t z = vzipq_u16(h, m);
  return {fma_lane<kA>(vreinterpretq_f32_u16(z.val[0]), n),
          fma_lane<kB>(vreinterpretq_f32_u16(z.val[1]), n)};
#endif
}

// Lanes 0-3 of h to `a` (channel kA), lanes 4-7 to `b` (channel kB).
template <int kA, int kB, typename T>
SDK_INLINE void out8(T* a, T* b, uint16x8_t h, const Norm& n, float32x4_t qs) {
  const F32x2 f = cvt8<kA, kB>(h, n);
  store4(a, f.lo, qs);
  store4(b, f.hi, qs);
}

SDK_INLINE VWeights vweights(uint32_t wy) {
  return {vdupq_n_u8(static_cast<uint8_t>(256 - wy)), vdupq_n_u8(static_cast<uint8_t>(wy))};
}

// What every row loop holds: blend weights, the 2 of the mla, ks/kb, int8 scale, outputs.
template <typename T>
struct RowConst {
  VWeights vw;
  uint16x8_t two;
  Norm nk;
  float32x4_t qs;
  T* o[3];
};
template <typename T, typename Row>
SDK_INLINE RowConst<T> row_const(const Row& r) {
  return {vweights(r.wy), vdupq_n_u16(2), norm3(r.ks, r.kb), vdupq_n_f32(r.qscale),
          {static_cast<T*>(r.out[0]), static_cast<T*>(r.out[1]), static_cast<T*>(r.out[2])}};
}

// ------------------------------------------------------------------ packed formats

template <typename T>
void packed_tail(const PackedRow& r, size_t i) {
  if (sizeof(T) == 1) u8_resize_bilinear_normalize_chw_s8__scalar(r, i);
  else u8_resize_bilinear_normalize_chw__scalar(r, i);
}

// Blocks [0, fast) load forwards (8 bytes at the left tap); blocks [fast, fast_back), near
// the row end, load the 8 bytes that end `back` bytes after the left tap's pair, and shift
// the gather indices by `back` (internal.h, PackedRow::back).
template <typename T, bool kWy0>
void packed3(const PackedRow& r) {
  const uint32_t* const xofs = r.xofs;
  const int16_t* const wx = r.wx;
  const RowConst<T> c = row_const<T>(r);
  T *const o0 = c.o[0], *const o1 = c.o[1], *const o2 = c.o[2];
  size_t i = 0;
  auto blocks = [&](size_t end, size_t back) __attribute__((always_inline)) {
    const uint8_t *const row0 = r.row0 - back, *const row1 = r.row1 - back;
    const uint8x16_t sh = vdupq_n_u8(static_cast<uint8_t>(back));
    const uint8x16_t g01 = vaddq_u8(vld1q_u8(r.gidx[0]), sh);
    const uint8x16_t g2a = vaddq_u8(vld1q_u8(r.gidx[1]), sh), g2b = vaddq_u8(vld1q_u8(r.gidx[2]), sh);
    for (; i < end; i += 8) {
      if constexpr (sizeof(T) == 4 && !kWy0) SDK_MCA_BEGIN("packed3");
      const uint32_t* const o = xofs + i;
      const Table4 a0 = load4(row0, o), b0 = load4(row0, o + 4);
      const uint8x16_t pa0 = tbl4(a0, g01), pb0 = tbl4(b0, g01), pc0 = tbx4(tbl4(a0, g2a), b0, g2b);
      uint8x16_t pa1 = pa0, pb1 = pb0, pc1 = pc0;
      if (!kWy0) {
        const Table4 a1 = load4(row1, o), b1 = load4(row1, o + 4);
        pa1 = tbl4(a1, g01);
        pb1 = tbl4(b1, g01);
        pc1 = tbx4(tbl4(a1, g2a), b1, g2b);
      }
      const int16_t* const w = wx + 3 * i;  // block i / 8 of kWxBlock
      const uint16x8_t ha = hblend(vblend16<kWy0>(pa0, pa1, c.vw), vld1q_s16(w), c.two);
      const uint16x8_t hb = hblend(vblend16<kWy0>(pb0, pb1, c.vw), vld1q_s16(w + 8), c.two);
      const uint16x8_t hc = hblend(vblend16<kWy0>(pc0, pc1, c.vw), vld1q_s16(w + 16), c.two);
      out8<0, 1>(o0 + i, o1 + i, ha, c.nk, c.qs);          // channels 0, 1 of pixels 0-3
      out8<0, 1>(o0 + i + 4, o1 + i + 4, hb, c.nk, c.qs);  // channels 0, 1 of pixels 4-7
      out8<2, 2>(o2 + i, o2 + i + 4, hc, c.nk, c.qs);      // channel 2 of pixels 0-7
      if constexpr (sizeof(T) == 4 && !kWy0) SDK_MCA_END();
    }
  };
  blocks(r.fast, 0);
  blocks(r.fast_back, r.back);
  packed_tail<T>(r, i);
}

template <typename T, bool kWy0>
void packed1(const PackedRow& r) {
  const RowConst<T> c = row_const<T>(r);
  T* const o0 = c.o[0];
  size_t i = 0;
  auto blocks = [&](size_t end, size_t back) __attribute__((always_inline)) {
    const uint8x16_t sh = vdupq_n_u8(static_cast<uint8_t>(back));
    const uint8x16_t ga = vaddq_u8(vld1q_u8(r.gidx[1]), sh), gb = vaddq_u8(vld1q_u8(r.gidx[2]), sh);
    for (; i < end; i += 8) {
      const uint8x16_t p0 = taps8(r.row0 - back, r.xofs + i, ga, gb);
      const uint8x16_t p1 = kWy0 ? p0 : taps8(r.row1 - back, r.xofs + i, ga, gb);
      const uint16x8_t h = hblend(vblend16<kWy0>(p0, p1, c.vw), vld1q_s16(r.wx + 3 * i + 16), c.two);
      out8<0, 0>(o0 + i, o0 + i + 4, h, c.nk, c.qs);
    }
  };
  blocks(r.fast, 0);
  blocks(r.fast_back, r.back);
  packed_tail<T>(r, i);
}

template <typename T>
void packed_any(const PackedRow& r, size_t begin) {
  if (begin != 0) return packed_tail<T>(r, begin);  // only the scalar reference serves parts
  if (r.out_c == 1) {
    if (r.wy == 0) packed1<T, true>(r);
    else packed1<T, false>(r);
  } else {
    if (r.wy == 0) packed3<T, true>(r);
    else packed3<T, false>(r);
  }
}

// ------------------------------------------------------------------ NV12 / NV21

struct Rgb16 {
  uint8x16_t r, g, b;
};

// The YuvModel in registers: q[0..4] (CY, CVR, CUG, CVG, CUB) in lanes 0-4 of one register
// (aarch64 multiplies by lane), yoff and 0x80 per byte.
struct YuvConst {
  uint8x16_t yoff, k80;
  int16x8_t q;
};

template <int kLane>
SDK_INLINE int16x8_t qrdmulh_k(int16x8_t x, const YuvConst& k) {
#if defined(__aarch64__)
  return vqrdmulhq_laneq_s16(x, k.q, kLane);
#else
  return vqrdmulhq_s16(x, vdupq_n_s16(vgetq_lane_s16(k.q, kLane)));
#endif
}

SDK_INLINE uint8x16_t narrow6(int16x8_t lo, int16x8_t hi) {
#if defined(__aarch64__)
  return vqrshrun_high_n_s16(vqrshrun_n_s16(lo, 6), hi, 6);
#else
  return vcombine_u8(vqrshrun_n_s16(lo, 6), vqrshrun_n_s16(hi, 6));
#endif
}

// 8 taps (one half of 16) -> R, G, B as s16 in 1/64 steps: yw = Y' << 7, u7 = U' << 7,
// u8 = U' << 8, v7 = V' << 7.
struct Rgb8 {
  int16x8_t r, g, b;
};
SDK_INLINE Rgb8 yuv_half(int16x8_t yw, int16x8_t u7, int16x8_t u8, int16x8_t v7, const YuvConst& k) {
  const int16x8_t yy = qrdmulh_k<0>(yw, k);
  return {vqaddq_s16(yy, qrdmulh_k<1>(v7, k)),
          vqaddq_s16(vqaddq_s16(yy, qrdmulh_k<2>(u7, k)), qrdmulh_k<3>(v7, k)),
          vqaddq_s16(yy, qrdmulh_k<4>(u8, k))};
}

// 16 taps Y, U, V -> R, G, B (internal.h, YuvModel).
SDK_INLINE Rgb16 yuv_to_rgb(uint8x16_t y, uint8x16_t u, uint8x16_t v, const YuvConst& k) {
  const uint8x16_t yp = vqsubq_u8(y, k.yoff);
  const int8x16_t us = vreinterpretq_s8_u8(veorq_u8(u, k.k80));
  const int8x16_t vs = vreinterpretq_s8_u8(veorq_u8(v, k.k80));
  const Rgb8 lo = yuv_half(vreinterpretq_s16_u16(vshll_n_u8(vget_low_u8(yp), 7)),
                           vshll_n_s8(vget_low_s8(us), 7), vshll_n_s8(vget_low_s8(us), 8),
                           vshll_n_s8(vget_low_s8(vs), 7), k);
  const Rgb8 hi = yuv_half(vreinterpretq_s16_u16(vshll_n_u8(vget_high_u8(yp), 7)),
                           vshll_n_s8(vget_high_s8(us), 7), vshll_n_s8(vget_high_s8(us), 8),
                           vshll_n_s8(vget_high_s8(vs), 7), k);
  return {narrow6(lo.r, hi.r), narrow6(lo.g, hi.g), narrow6(lo.b, hi.b)};
}

// Y taps of pixel p at bytes 0 (left) and 1 (right) of its 16-byte load.
// (0x80: out of range, also after adding a back shift of at most 7.)
alignas(16) constexpr uint8_t kYa[16] = {0, 16, 32, 48, 0x80, 0x80, 0x80, 0x80,
                                         1, 17, 33, 49, 0x80, 0x80, 0x80, 0x80};
alignas(16) constexpr uint8_t kYb[16] = {0x80, 0x80, 0x80, 0x80, 0, 16, 32, 48,
                                         0x80, 0x80, 0x80, 0x80, 1, 17, 33, 49};

struct ChromaIdx {
  uint8x16_t ua, ub, va, vb;
};

// R, G, B taps of 8 pixels of one source row (luma row y, its chroma row c).
SDK_INLINE Rgb16 nv12_taps(const uint8_t* y, const uint8_t* c, const uint32_t* yo, const uint32_t* co,
                       const ChromaIdx& ci, uint8x16_t ya, uint8x16_t yb, const YuvConst& k) {
  const uint8x16_t yv = taps8(y, yo, ya, yb);
  const Table4 ca = load4(c, co), cb = load4(c, co + 4);
  const uint8x16_t u = tbx4(tbl4(ca, ci.ua), cb, ci.ub);
  const uint8x16_t v = tbx4(tbl4(ca, ci.va), cb, ci.vb);
  return yuv_to_rgb(yv, u, v, k);
}

template <typename T>
void nv12_tail(const Nv12Row& r, size_t i) {
  if (sizeof(T) == 1) nv12_resize_bilinear_normalize_chw_s8__scalar(r, i);
  else nv12_resize_bilinear_normalize_chw__scalar(r, i);
}

// As packed3: forward blocks, then blocks near the row end that load backwards (luma 6 and
// chroma 4 bytes before the taps, Nv12Row::fast_back).
template <typename T, bool kWy0>
void nv12_rows(const Nv12Row& r) {
  const YuvModel& m = r.yuv;
  const int16_t q8[8] = {m.q[0], m.q[1], m.q[2], m.q[3], m.q[4], 0, 0, 0};
  const YuvConst k{vdupq_n_u8(m.yoff), vdupq_n_u8(0x80), vld1q_s16(q8)};
  const uint8x16_t one = vdupq_n_u8(1);
  const RowConst<T> c = row_const<T>(r);
  T *const oR = c.o[0], *const oG = c.o[1], *const oB = c.o[2];
  size_t i = 0;
  auto blocks = [&](size_t end, size_t yback, size_t cback) __attribute__((always_inline)) {
    const uint8x16_t ya = vaddq_u8(vld1q_u8(kYa), vdupq_n_u8(static_cast<uint8_t>(yback)));
    const uint8x16_t yb = vaddq_u8(vld1q_u8(kYb), vdupq_n_u8(static_cast<uint8_t>(yback)));
    const uint8x16_t cs = vdupq_n_u8(static_cast<uint8_t>(cback));
    for (; i < end; i += 8) {
      if constexpr (sizeof(T) == 4 && !kWy0) SDK_MCA_BEGIN("nv12");
      const uint32_t *const yo = r.yofs + i, *const co = r.cofs + i;
      ChromaIdx ci;
      ci.ua = vaddq_u8(vld1q_u8(r.cidx + 4 * i), cs);
      ci.ub = vaddq_u8(vld1q_u8(r.cidx + 4 * i + 16), cs);
      ci.va = veorq_u8(ci.ua, one);
      ci.vb = veorq_u8(ci.ub, one);
      const Rgb16 p0 = nv12_taps(r.y0 - yback, r.c0 - cback, yo, co, ci, ya, yb, k);
      const Rgb16 p1 = kWy0 ? p0 : nv12_taps(r.y1 - yback, r.c1 - cback, yo, co, ci, ya, yb, k);
      const int16x8_t w = vld1q_s16(r.wx + 3 * i + 16);
      out8<0, 0>(oR + i, oR + i + 4, hblend(vblend16<kWy0>(p0.r, p1.r, c.vw), w, c.two), c.nk, c.qs);
      out8<1, 1>(oG + i, oG + i + 4, hblend(vblend16<kWy0>(p0.g, p1.g, c.vw), w, c.two), c.nk, c.qs);
      out8<2, 2>(oB + i, oB + i + 4, hblend(vblend16<kWy0>(p0.b, p1.b, c.vw), w, c.two), c.nk, c.qs);
      if constexpr (sizeof(T) == 4 && !kWy0) SDK_MCA_END();
    }
  };
  blocks(r.fast, 0, 0);
  blocks(r.fast_back, 6, 4);
  nv12_tail<T>(r, i);
}

template <typename T>
void nv12(const Nv12Row& r, size_t begin) {
  if (begin != 0) return nv12_tail<T>(r, begin);
  if (r.wy == 0) nv12_rows<T, true>(r);
  else nv12_rows<T, false>(r);
}

}  // namespace

void u8_resize_bilinear_normalize_chw__neon(const PackedRow& r, size_t begin) {
  packed_any<float>(r, begin);
}
void u8_resize_bilinear_normalize_chw_s8__neon(const PackedRow& r, size_t begin) {
  packed_any<int8_t>(r, begin);
}
void nv12_resize_bilinear_normalize_chw__neon(const Nv12Row& r, size_t begin) {
  nv12<float>(r, begin);
}
void nv12_resize_bilinear_normalize_chw_s8__neon(const Nv12Row& r, size_t begin) {
  nv12<int8_t>(r, begin);
}

}  // namespace internal
}  // namespace sdk_kernels
