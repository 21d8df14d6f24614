// NEON variant of the fused preprocessing: 8 output pixels per iteration, then the shared
// scalar tail. Per source row, each pixel's left/right taps are one 8-byte load (a gather:
// at 1920 -> 224 the taps are 8.6 source pixels apart); tbl/tbx over two 4-load tables (lut)
// de-interleaves them into [left 0..7 | right 0..7] bytes per channel; the vertical blend
// (umull + umlal, or a shift where the weight is 0), the horizontal blend (uhsub, sqrdmulh,
// mla) and the conversion (zip with 0x4B00, one FMA that also applies mean and norm) follow
// internal.h exactly: bit-exact with the scalar reference, int8 and float alike.
// AArch64 BGR/RGB float rows (the bench's case) take packed3_ld3_f32_a64 instead: one ld3 per
// pixel and source row loads exactly the two taps, two output rows per iteration. The driver
// hands each call a batch of rows (SrcRows); other formats run here one row at a time.
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

// ------------------------------------------------------------------ gathers: 4 loads + lookups

// lut<kX, kY>(row, o, x, ix, y, iy): four 8-byte loads at row + o[0..3] form a table (pixel p
// at byte kTapStride * p), then two 16-index lookups: x = tbl(table, ix), or with kX
// tbx(x, table, ix) (out-of-range indices keep x); the same for y. lut1: one lookup.
struct Lut2 {
  uint8x16_t x, y;
};

#if defined(__aarch64__)
using Table4 = uint8x16x4_t;

// Upper halves zero: one `ldr d` each.
SDK_INLINE Table4 load4(const uint8_t* row, const uint32_t* o) {
  const uint8x8_t z = vdup_n_u8(0);
  Table4 t;
  t.val[0] = vcombine_u8(vld1_u8(row + o[0]), z);
  t.val[1] = vcombine_u8(vld1_u8(row + o[1]), z);
  t.val[2] = vcombine_u8(vld1_u8(row + o[2]), z);
  t.val[3] = vcombine_u8(vld1_u8(row + o[3]), z);
  return t;
}
template <bool kTbx>
SDK_INLINE uint8x16_t look(uint8x16_t d, const Table4& t, uint8x16_t i) {
  if constexpr (kTbx) return vqtbx4q_u8(d, t, i);
  else return vqtbl4q_u8(t, i);
}
template <bool kX, bool kY>
SDK_INLINE Lut2 lut(const uint8_t* row, const uint32_t* o, uint8x16_t x, uint8x16_t ix, uint8x16_t y,
                    uint8x16_t iy) {
  const Table4 t = load4(row, o);
  return {look<kX>(x, t, ix), look<kY>(y, t, iy)};
}
template <bool kX>
SDK_INLINE uint8x16_t lut1(const uint8_t* row, const uint32_t* o, uint8x16_t x, uint8x16_t ix) {
  return look<kX>(x, load4(row, o), ix);
}
#else
// ARMv7 has no vqtbl4: the table is d16-d19 (32 bytes), each 16-index lookup two vtbl/vtbx.
// In asm because GCC builds a uint8x8x4_t from four loads through the stack (2.5x the
// instructions of the whole loop).
#define SDK_LD4 \
  "vld1.8 {d16}, [%[a]]\n\tvld1.8 {d17}, [%[b]]\n\tvld1.8 {d18}, [%[c]]\n\tvld1.8 {d19}, [%[d]]\n\t"
#define SDK_LU(op, x, i) \
  op " %e[" x "], {d16, d17, d18, d19}, %e[" i "]\n\t" op " %f[" x "], {d16, d17, d18, d19}, %f[" i "]\n\t"
#define SDK_ROWS(row, o) [a] "r"(row + o[0]), [b] "r"(row + o[1]), [c] "r"(row + o[2]), [d] "r"(row + o[3])
template <bool kX, bool kY>
SDK_INLINE Lut2 lut(const uint8_t* row, const uint32_t* o, uint8x16_t x, uint8x16_t ix, uint8x16_t y,
                    uint8x16_t iy) {
  static_assert(kX <= kY, "tbx x with tbl y: swap them");
  if constexpr (!kX && !kY)
    __asm__(SDK_LD4 SDK_LU("vtbl.8", "x", "ix") SDK_LU("vtbl.8", "y", "iy")
            : [x] "=&w"(x), [y] "=&w"(y) : SDK_ROWS(row, o), [ix] "w"(ix), [iy] "w"(iy)
            : "d16", "d17", "d18", "d19");
  else if constexpr (!kX && kY)
    __asm__(SDK_LD4 SDK_LU("vtbl.8", "x", "ix") SDK_LU("vtbx.8", "y", "iy")
            : [x] "=&w"(x), [y] "+&w"(y) : SDK_ROWS(row, o), [ix] "w"(ix), [iy] "w"(iy)
            : "d16", "d17", "d18", "d19");
  else
    __asm__(SDK_LD4 SDK_LU("vtbx.8", "x", "ix") SDK_LU("vtbx.8", "y", "iy")
            : [x] "+&w"(x), [y] "+&w"(y) : SDK_ROWS(row, o), [ix] "w"(ix), [iy] "w"(iy)
            : "d16", "d17", "d18", "d19");
  return {x, y};
}
template <bool kX>
SDK_INLINE uint8x16_t lut1(const uint8_t* row, const uint32_t* o, uint8x16_t x, uint8x16_t ix) {
  if constexpr (kX)
    __asm__(SDK_LD4 SDK_LU("vtbx.8", "x", "ix") : [x] "+&w"(x) : SDK_ROWS(row, o), [ix] "w"(ix)
            : "d16", "d17", "d18", "d19");
  else
    __asm__(SDK_LD4 SDK_LU("vtbl.8", "x", "ix") : [x] "=&w"(x) : SDK_ROWS(row, o), [ix] "w"(ix)
            : "d16", "d17", "d18", "d19");
  return x;
}
#undef SDK_LD4
#undef SDK_LU
#undef SDK_ROWS
#endif

// [left 0..7 | right 0..7] of one channel of 8 pixels: tbl over pixels 0-3, tbx over 4-7.
SDK_INLINE uint8x16_t taps8(const uint8_t* row, const uint32_t* o, uint8x16_t ia, uint8x16_t ib) {
  return lut1<true>(row, o + 4, lut1<false>(row, o, ia, ia), ib);
}

// ------------------------------------------------------------------ blends and output

struct U16x2 {
  uint16x8_t l, r;  // vL and vR of 8 lanes
};

struct VWeights {
#if defined(__aarch64__)
  uint8x16_t w0, w1;  // 256 - wy, wy (wy != 0)
#else
  uint8x8_t w0, w1;  // ARMv7 multiplies d registers: 8 lanes are enough (fewer q registers live)
#endif
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
  const uint16x8_t l = vmlal_u8(vmull_u8(vget_low_u8(a), w.w0), vget_low_u8(c), w.w1);
  const uint16x8_t r = vmlal_u8(vmull_u8(vget_high_u8(a), w.w0), vget_high_u8(c), w.w1);
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
#if defined(__aarch64__)
  return {vdupq_n_u8(static_cast<uint8_t>(256 - wy)), vdupq_n_u8(static_cast<uint8_t>(wy))};
#else
  return {vdup_n_u8(static_cast<uint8_t>(256 - wy)), vdup_n_u8(static_cast<uint8_t>(wy))};
#endif
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
  if (i >= r.n) return;
  if (sizeof(T) == 1) u8_resize_bilinear_normalize_chw_row_s8__scalar(r, i);
  else u8_resize_bilinear_normalize_chw_row__scalar(r, i);
}

// Blocks [0, fast) load forwards (8 bytes at the left tap); blocks [fast, fast_back), near
// the row end, load the 8 bytes that end `back` bytes after the left tap's pair, and shift
// the gather indices by `back` (internal.h, PackedRow::back).
#if defined(__aarch64__)
// AArch64, float output, wy != 0, RGBA (and 3-channel sources of width 1, which have no right
// tap to load): the 8-pixel block in asm, 70 instructions (GCC's intrinsics
// loop: 100, with a mov per FMA accumulator, unpaired stores and 8 offset loads). Constants
// stay in v16-v23 (A64Const); the 6 FMA accumulators are loaded from kb (ld1 + ldp), FMLA by
// element takes ks; stp stores both halves of a channel. Same operations as the intrinsics
// path, so bit-exact with it.
struct A64Const {
  uint8_t g01[16], g2a[16], g2b[16];  // PackedRow::gidx + back
  uint8_t w0[16], w1[16];             // 256 - wy, wy
  uint16_t two[8], magic[8];          // 2 (hblend), kMagicBits >> 16
  float ks[4];                        // ks0 ks1 ks2 0 (by element)
  float kb[6][4];                     // kb0 kb0 kb1 kb1 kb2 kb2: the accumulators
};
static_assert(sizeof(A64Const) == 224, "layout read by the asm below");

void packed3_f32_a64(const uint8_t* row0, const uint8_t* row1, const uint32_t* xofs,
                     const int16_t* wx, size_t blocks, float* o0, float* o1, float* o2,
                     const A64Const* k) {
  const float* kb = k->kb[0];
#define SDK_T(d, r, w) "ldr " d ", [%[" r "], " w ", uxtw]\n\t"
#define SDK_T4(a, b, c, d, r, w0, w1, w2, w3) SDK_T(a, r, w0) SDK_T(b, r, w1) SDK_T(c, r, w2) SDK_T(d, r, w3)
  __asm__ volatile(
      "ld1 {v16.16b-v19.16b}, [%[k]], #64\n\t"  // g01 g2a g2b w0
      "ld1 {v20.16b-v23.16b}, [%[k]]\n\t"       // w1 two magic ks
      "1:\n\t"
      "ldp w9, w10, [%[xo]], #8\n\tldp w11, w12, [%[xo]], #8\n\t"
      "ldp w13, w14, [%[xo]], #8\n\tldp w15, w16, [%[xo]], #8\n\t"
      SDK_T4("d0", "d1", "d2", "d3", "r0", "w9", "w10", "w11", "w12")
      SDK_T4("d4", "d5", "d6", "d7", "r0", "w13", "w14", "w15", "w16")
      SDK_T4("d24", "d25", "d26", "d27", "r1", "w9", "w10", "w11", "w12")
      SDK_T4("d28", "d29", "d30", "d31", "r1", "w13", "w14", "w15", "w16")
      "tbl v8.16b, {v0.16b-v3.16b}, v16.16b\n\t"     // pa0
      "tbl v10.16b, {v0.16b-v3.16b}, v17.16b\n\t"    // pc0, pixels 0-3
      "tbl v9.16b, {v4.16b-v7.16b}, v16.16b\n\t"     // pb0
      "tbx v10.16b, {v4.16b-v7.16b}, v18.16b\n\t"    // pc0, pixels 4-7
      "tbl v11.16b, {v24.16b-v27.16b}, v16.16b\n\t"  // pa1
      "tbl v13.16b, {v24.16b-v27.16b}, v17.16b\n\t"
      "tbl v12.16b, {v28.16b-v31.16b}, v16.16b\n\t"  // pb1
      "tbx v13.16b, {v28.16b-v31.16b}, v18.16b\n\t"  // pc1
      "umull v0.8h, v8.8b, v19.8b\n\tumlal v0.8h, v11.8b, v20.8b\n\t"
      "umull2 v1.8h, v8.16b, v19.16b\n\tumlal2 v1.8h, v11.16b, v20.16b\n\t"
      "umull v2.8h, v9.8b, v19.8b\n\tumlal v2.8h, v12.8b, v20.8b\n\t"
      "umull2 v3.8h, v9.16b, v19.16b\n\tumlal2 v3.8h, v12.16b, v20.16b\n\t"
      "umull v4.8h, v10.8b, v19.8b\n\tumlal v4.8h, v13.8b, v20.8b\n\t"
      "umull2 v5.8h, v10.16b, v19.16b\n\tumlal2 v5.8h, v13.16b, v20.16b\n\t"
      "ldp q6, q7, [%[wx]], #48\n\tldur q14, [%[wx], #-16]\n\t"
      "uhsub v1.8h, v0.8h, v1.8h\n\tsqrdmulh v1.8h, v1.8h, v6.8h\n\tmla v0.8h, v1.8h, v21.8h\n\t"
      "uhsub v3.8h, v2.8h, v3.8h\n\tsqrdmulh v3.8h, v3.8h, v7.8h\n\tmla v2.8h, v3.8h, v21.8h\n\t"
      "uhsub v5.8h, v4.8h, v5.8h\n\tsqrdmulh v5.8h, v5.8h, v14.8h\n\tmla v4.8h, v5.8h, v21.8h\n\t"
      "zip1 v1.8h, v0.8h, v22.8h\n\tzip2 v0.8h, v0.8h, v22.8h\n\t"
      "zip1 v3.8h, v2.8h, v22.8h\n\tzip2 v2.8h, v2.8h, v22.8h\n\t"
      "zip1 v5.8h, v4.8h, v22.8h\n\tzip2 v4.8h, v4.8h, v22.8h\n\t"
      "ld1 {v24.4s-v27.4s}, [%[kb]]\n\tldp q28, q29, [%[kb], #64]\n\t"
      "fmla v24.4s, v1.4s, v23.s[0]\n\tfmla v25.4s, v3.4s, v23.s[0]\n\t"
      "fmla v26.4s, v0.4s, v23.s[1]\n\tfmla v27.4s, v2.4s, v23.s[1]\n\t"
      "fmla v28.4s, v5.4s, v23.s[2]\n\tfmla v29.4s, v4.4s, v23.s[2]\n\t"
      "stp q24, q25, [%[o0]], #32\n\tstp q26, q27, [%[o1]], #32\n\tstp q28, q29, [%[o2]], #32\n\t"
      "subs %[n], %[n], #1\n\t"
      "b.ne 1b\n\t"
      : [xo] "+r"(xofs), [wx] "+r"(wx), [n] "+r"(blocks), [o0] "+r"(o0), [o1] "+r"(o1),
        [o2] "+r"(o2), [k] "+r"(k)
      : [r0] "r"(row0), [r1] "r"(row1), [kb] "r"(kb)
      : "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "v0", "v1", "v2", "v3", "v4", "v5",
        "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v16", "v17", "v18", "v19",
        "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc",
        "memory");
#undef SDK_T
#undef SDK_T4
}

A64Const a64_const(const PackedRow& r, uint8x16_t sh) {
  A64Const k;
  vst1q_u8(k.g01, vaddq_u8(vld1q_u8(r.gidx[0]), sh));
  vst1q_u8(k.g2a, vaddq_u8(vld1q_u8(r.gidx[1]), sh));
  vst1q_u8(k.g2b, vaddq_u8(vld1q_u8(r.gidx[2]), sh));
  vst1q_u8(k.w0, vdupq_n_u8(static_cast<uint8_t>(256 - r.wy)));
  vst1q_u8(k.w1, vdupq_n_u8(static_cast<uint8_t>(r.wy)));
  vst1q_u16(k.two, vdupq_n_u16(2));
  vst1q_u16(k.magic, vdupq_n_u16(kMagicBits >> 16));
  for (int c = 0; c < 3; c++) {
    k.ks[c] = r.ks[c];
    vst1q_f32(k.kb[2 * c], vdupq_n_f32(r.kb[c]));
    vst1q_f32(k.kb[2 * c + 1], vdupq_n_f32(r.kb[c]));
  }
  k.ks[3] = 0.f;
  return k;
}
#endif

#if !defined(__aarch64__)
// ARMv7, float output, wy != 0: the whole 8-pixel block in asm. GCC keeps too few of the 16 q
// registers for this loop (it spilled the tables, weights and constants: 147 instructions per
// block against these 98). Per pixel: ldr offset, add row0, two vld1 (row0, then row1 by the
// post-increment `delta`); the constants are re-read each block from `k`, one vld1 per 2-4 d
// registers (Armv7Const). Same operations as the intrinsics path, so bit-exact with it.
struct Armv7Const {
  uint8_t g01[16], g2a[16], g2b[16];  // PackedRow::gidx + back
  uint8_t w0[8], w1[8];               // 256 - wy, wy
  float ks0[4], ks1[4], ks2[4];
  float kb0[8], kb1[8], kb2[8];       // two copies: one accumulator each
};
static_assert(sizeof(Armv7Const) == 208, "layout read by the asm below");

void packed3_f32_v7(const uint8_t* row0, ptrdiff_t delta, const uint32_t* xofs, const int16_t* wx,
                    size_t blocks, float* o0, float* o1, float* o2, const Armv7Const* k) {
  const uint8_t* kp = reinterpret_cast<const uint8_t*>(k);
  uint32_t a;
#define SDK_PX(t0, t1)                                                          \
  "ldr %[a], [%[xofs]], #4\n\tadd %[a], %[a], %[row0]\n\t"                      \
  "vld1.8 {" t0 "}, [%[a]], %[delta]\n\tvld1.8 {" t1 "}, [%[a]]\n\t"
#define SDK_LU2(op, d0, d1, t, i0, i1) \
  op " " d0 ", {" t "}, " i0 "\n\t" op " " d1 ", {" t "}, " i1 "\n\t"
  __asm__ volatile(
      "1:\n\t"
      SDK_PX("d16", "d20") SDK_PX("d17", "d21") SDK_PX("d18", "d22") SDK_PX("d19", "d23")
      "vld1.8 {d12-d15}, [%[kp]]!\n\t"  // g01, g2a
      SDK_LU2("vtbl.8", "d0", "d1", "d16-d19", "d12", "d13")    // pa0
      SDK_LU2("vtbl.8", "d4", "d5", "d16-d19", "d14", "d15")    // pc0 (pixels 0-3)
      SDK_LU2("vtbl.8", "d6", "d7", "d20-d23", "d12", "d13")    // pa1
      SDK_LU2("vtbl.8", "d10", "d11", "d20-d23", "d14", "d15")  // pc1
      SDK_PX("d16", "d20") SDK_PX("d17", "d21") SDK_PX("d18", "d22") SDK_PX("d19", "d23")
      "vld1.8 {d14-d15}, [%[kp]]!\n\t"  // g2b
      SDK_LU2("vtbl.8", "d2", "d3", "d16-d19", "d12", "d13")    // pb0
      SDK_LU2("vtbx.8", "d4", "d5", "d16-d19", "d14", "d15")    // pc0 (pixels 4-7)
      SDK_LU2("vtbl.8", "d8", "d9", "d20-d23", "d12", "d13")    // pb1
      SDK_LU2("vtbx.8", "d10", "d11", "d20-d23", "d14", "d15")  // pc1
      "vld1.8 {d12-d13}, [%[kp]]!\n\t"  // w0, w1: vertical blend, vL | vR per group
      "vmull.u8 q8, d0, d12\n\tvmlal.u8 q8, d6, d13\n\t"
      "vmull.u8 q9, d1, d12\n\tvmlal.u8 q9, d7, d13\n\t"
      "vmull.u8 q10, d2, d12\n\tvmlal.u8 q10, d8, d13\n\t"
      "vmull.u8 q11, d3, d12\n\tvmlal.u8 q11, d9, d13\n\t"
      "vmull.u8 q12, d4, d12\n\tvmlal.u8 q12, d10, d13\n\t"
      "vmull.u8 q13, d5, d12\n\tvmlal.u8 q13, d11, d13\n\t"
      "vld1.16 {d0-d3}, [%[wx]]!\n\tvld1.16 {d4-d5}, [%[wx]]!\n\tvmov.i16 q3, #2\n\t"
      "vhsub.u16 q9, q8, q9\n\tvqrdmulh.s16 q9, q9, q0\n\tvmla.i16 q8, q9, q3\n\t"
      "vhsub.u16 q11, q10, q11\n\tvqrdmulh.s16 q11, q11, q1\n\tvmla.i16 q10, q11, q3\n\t"
      "vhsub.u16 q13, q12, q13\n\tvqrdmulh.s16 q13, q13, q2\n\tvmla.i16 q12, q13, q3\n\t"
      "vmov.i16 q9, #0x4b00\n\tvzip.16 q8, q9\n\t"
      "vmov.i16 q11, #0x4b00\n\tvzip.16 q10, q11\n\t"
      "vmov.i16 q13, #0x4b00\n\tvzip.16 q12, q13\n\t"
      "vld1.32 {d0-d3}, [%[kp]]!\n\tvld1.32 {d4-d5}, [%[kp]]!\n\t"  // ks0, ks1, ks2
      "vld1.32 {d6-d9}, [%[kp]]!\n\tvld1.32 {d10-d13}, [%[kp]]!\n\tvld1.32 {d28-d31}, [%[kp]]\n\t"
      "vfma.f32 q3, q8, q0\n\tvfma.f32 q4, q10, q0\n\t"
      "vfma.f32 q5, q9, q1\n\tvfma.f32 q6, q11, q1\n\t"
      "vfma.f32 q14, q12, q2\n\tvfma.f32 q15, q13, q2\n\t"
      "vst1.32 {d6-d9}, [%[o0]]!\n\tvst1.32 {d10-d13}, [%[o1]]!\n\tvst1.32 {d28-d31}, [%[o2]]!\n\t"
      "sub %[kp], %[kp], #176\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      : [a] "=&r"(a), [xofs] "+r"(xofs), [wx] "+r"(wx), [n] "+r"(blocks), [o0] "+r"(o0),
        [o1] "+r"(o1), [o2] "+r"(o2), [kp] "+r"(kp)
      : [row0] "r"(row0), [delta] "r"(delta)
      : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13",
        "d14", "d15", "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", "d26",
        "d27", "d28", "d29", "d30", "d31", "cc", "memory");
#undef SDK_PX
#undef SDK_LU2
}

Armv7Const armv7_const(const PackedRow& r, uint8x16_t sh) {
  Armv7Const k;
  vst1q_u8(k.g01, vaddq_u8(vld1q_u8(r.gidx[0]), sh));
  vst1q_u8(k.g2a, vaddq_u8(vld1q_u8(r.gidx[1]), sh));
  vst1q_u8(k.g2b, vaddq_u8(vld1q_u8(r.gidx[2]), sh));
  vst1_u8(k.w0, vdup_n_u8(static_cast<uint8_t>(256 - r.wy)));
  vst1_u8(k.w1, vdup_n_u8(static_cast<uint8_t>(r.wy)));
  float* ks[3] = {k.ks0, k.ks1, k.ks2};
  float* kb[3] = {k.kb0, k.kb1, k.kb2};
  for (int c = 0; c < 3; c++) {
    vst1q_f32(ks[c], vdupq_n_f32(r.ks[c]));
    vst1q_f32(kb[c], vdupq_n_f32(r.kb[c]));
    vst1q_f32(kb[c] + 4, vdupq_n_f32(r.kb[c]));
  }
  return k;
}
#endif

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
#if defined(__aarch64__)
    if constexpr (sizeof(T) == 4 && !kWy0) {
      if (end > i) {
        const A64Const k = a64_const(r, sh);
        packed3_f32_a64(row0, row1, xofs + i, wx + 3 * i, (end - i) / 8, o0 + i, o1 + i, o2 + i, &k);
        i = end;
      }
      return;
    }
#else
    if constexpr (sizeof(T) == 4 && !kWy0) {
      if (end > i) {
        const Armv7Const k = armv7_const(r, sh);
        packed3_f32_v7(row0, row1 - row0, xofs + i, wx + 3 * i, (end - i) / 8, o0 + i, o1 + i,
                       o2 + i, &k);
        i = end;
      }
      return;
    }
#endif
    for (; i < end; i += 8) {
      const uint32_t* const o = xofs + i;
      // pixels 0-3: channels 0/1 and channel 2 (tbl); pixels 4-7: channels 0/1 (tbl), 2 (tbx)
      const Lut2 a0 = lut<false, false>(row0, o, g01, g01, g01, g2a);
      const Lut2 b0 = lut<false, true>(row0, o + 4, g01, g01, a0.y, g2b);
      const uint8x16_t pa0 = a0.x, pb0 = b0.x, pc0 = b0.y;
      uint8x16_t pa1 = pa0, pb1 = pb0, pc1 = pc0;
      if (!kWy0) {
        const Lut2 a1 = lut<false, false>(row1, o, g01, g01, g01, g2a);
        const Lut2 b1 = lut<false, true>(row1, o + 4, g01, g01, a1.y, g2b);
        pa1 = a1.x;
        pb1 = b1.x;
        pc1 = b1.y;
      }
      const int16_t* const w = wx + 3 * i;  // block i / 8 of kWxBlock
      const uint16x8_t ha = hblend(vblend16<kWy0>(pa0, pa1, c.vw), vld1q_s16(w), c.two);
      const uint16x8_t hb = hblend(vblend16<kWy0>(pb0, pb1, c.vw), vld1q_s16(w + 8), c.two);
      const uint16x8_t hc = hblend(vblend16<kWy0>(pc0, pc1, c.vw), vld1q_s16(w + 16), c.two);
      out8<0, 1>(o0 + i, o1 + i, ha, c.nk, c.qs);          // channels 0, 1 of pixels 0-3
      out8<0, 1>(o0 + i + 4, o1 + i + 4, hb, c.nk, c.qs);  // channels 0, 1 of pixels 4-7
      out8<2, 2>(o2 + i, o2 + i + 4, hc, c.nk, c.qs);      // channel 2 of pixels 0-7
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
void packed_any(const PackedRow& r) {
  if (r.out_c == 1) {
    if (r.wy == 0) packed1<T, true>(r);
    else packed1<T, false>(r);
  } else {
    if (r.wy == 0) packed3<T, true>(r);
    else packed3<T, false>(r);
  }
}

// Every row of a PackedFn call: 3-channel float rows through packed3_ld3_rows on AArch64, the
// rest one row at a time.
template <typename T>
void packed_rows(const PackedRow& r, const SrcRows* rows, size_t count, size_t stride) {
#if defined(__aarch64__)
  if constexpr (sizeof(T) == 4) {
    if (r.out_c == 3 && r.cn == 3 && r.pairs >= 8) return packed3_ld3_f32_rows(r, rows, count, stride);
  }
#endif
  PackedRow q = r;
  for (size_t j = 0; j < count; j++) {
    q.row0 = rows[j].row0;
    q.row1 = rows[j].row1;
    q.wy = rows[j].wy;
    for (size_t c = 0; c < r.out_c; c++) q.out[c] = static_cast<T*>(r.out[c]) + j * stride;
    packed_any<T>(q);
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
  if constexpr (kLane < 4) return vqrdmulhq_lane_s16(x, vget_low_s16(k.q), kLane);
  else return vqrdmulhq_lane_s16(x, vget_high_s16(k.q), kLane - 4);
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

// Y taps of pixel p at bytes 0 (left) and 1 (right) of its load (byte kTapStride * p of the
// table). (0x80: out of range, also after adding a back shift of at most 7.)
constexpr uint8_t kS = static_cast<uint8_t>(kTapStride);
alignas(16) constexpr uint8_t kYa[16] = {0, kS, 2 * kS, 3 * kS, 0x80, 0x80, 0x80, 0x80,
                                         1, kS + 1, 2 * kS + 1, 3 * kS + 1, 0x80, 0x80, 0x80, 0x80};
alignas(16) constexpr uint8_t kYb[16] = {0x80, 0x80, 0x80, 0x80, 0, kS, 2 * kS, 3 * kS,
                                         0x80, 0x80, 0x80, 0x80, 1, kS + 1, 2 * kS + 1, 3 * kS + 1};

struct ChromaIdx {
  uint8x16_t ua, ub, va, vb;
};

// R, G, B taps of 8 pixels of one source row (luma row y, its chroma row c).
SDK_INLINE Rgb16 nv12_taps(const uint8_t* y, const uint8_t* c, const uint32_t* yo, const uint32_t* co,
                       const ChromaIdx& ci, uint8x16_t ya, uint8x16_t yb, const YuvConst& k) {
  const uint8x16_t yv = taps8(y, yo, ya, yb);
  const Lut2 a = lut<false, false>(c, co, ci.ua, ci.ua, ci.va, ci.va);
  const Lut2 uv = lut<true, true>(c, co + 4, a.x, ci.ub, a.y, ci.vb);
  return yuv_to_rgb(yv, uv.x, uv.y, k);
}

#if !defined(__aarch64__)
// ARMv7, float output, wy != 0: the whole 8-pixel NV12 block in asm, as packed3_f32_v7 and for
// the same reason. Per row: 8 luma and 8 chroma loads (ldr offset, add row, vld1) into d24-d31,
// lookups into Y, U, V (q1-q3 for row 0, q4-q6 for row 1), the YuvModel conversion in place
// (q7-q11 temporaries, the coefficients in d0/d1: 16-bit scalars must be in d0-d7), then the
// blends and the FMA as packed3_f32_v7. Same operations as the intrinsics path: bit-exact.
struct Nv12Const {
  uint8_t ya[16], yb[16];     // kYa / kYb + yback
  uint8_t yoff[16], k80[16];
  uint8_t w0[8], w1[8];
  float ks[3][4];
  float kb[3][8];             // two copies: one accumulator each
  const uint8_t* rows[4];     // y0, c0, y1, c1 (minus the back shifts)
  int16_t q[8];               // CY, CVR, CUG, CVG, CUB, 0, 0, 0
};
static_assert(sizeof(Nv12Const) == 256, "layout read by the asm below");

// One row's taps: luma at `yoff` and chroma at `coff` bytes into Nv12Const from kp (which points
// at ya), into q(Y) q(U) q(V), then converted in place to R G B.
#define SDK_NV_LD(d, ofs, p) \
  "ldr %[a], [" ofs ", #" #p "]\n\tadd %[a], %[a], %[b]\n\tvld1.8 {" d "}, [%[a]]\n\t"
#define SDK_NV_LD8(ofs)                                                                 \
  SDK_NV_LD("d24", ofs, 0) SDK_NV_LD("d25", ofs, 4) SDK_NV_LD("d26", ofs, 8)              \
  SDK_NV_LD("d27", ofs, 12) SDK_NV_LD("d28", ofs, 16) SDK_NV_LD("d29", ofs, 20)           \
  SDK_NV_LD("d30", ofs, 24) SDK_NV_LD("d31", ofs, 28)
#define SDK_NV_LU(dl, dh, il, ih, jl, jh)                                                \
  "vtbl.8 " dl ", {d24-d27}, " il "\n\tvtbl.8 " dh ", {d24-d27}, " ih "\n\t"            \
  "vtbx.8 " dl ", {d28-d31}, " jl "\n\tvtbx.8 " dh ", {d28-d31}, " jh "\n\t"
// half: y/u/v d registers of 8 taps; results written over them (R over y, G over u, B over v)
#define SDK_NV_HALF(y, u, v)                                                               \
  "vshll.u8 q7, " y ", #7\n\tvshll.s8 q8, " u ", #7\n\tvshll.i8 q9, " u ", #8\n\t"        \
  "vshll.s8 q10, " v ", #7\n\t"                                                            \
  "vqrdmulh.s16 q7, q7, d0[0]\n\tvqrdmulh.s16 q9, q9, d1[0]\n\t"                          \
  "vqrdmulh.s16 q11, q10, d0[3]\n\tvqrdmulh.s16 q10, q10, d0[1]\n\t"                      \
  "vqrdmulh.s16 q8, q8, d0[2]\n\t"                                                         \
  "vqadd.s16 q10, q7, q10\n\tvqadd.s16 q8, q7, q8\n\tvqadd.s16 q8, q8, q11\n\t"           \
  "vqadd.s16 q9, q7, q9\n\t"                                                               \
  "vqrshrun.s16 " y ", q10, #6\n\tvqrshrun.s16 " u ", q8, #6\n\tvqrshrun.s16 " v ", q9, #6\n\t"
#define SDK_NV_ROW(ybase, cbase, Y, Yl, Yh, U, Ul, Uh, V, Vl, Vh, ci_tail)                 \
  "ldr %[b], [%[kp], #" ybase "]\n\t" SDK_NV_LD8("%[yo]")                                 \
  "vld1.8 {d14-d17}, [%[kp]]!\n\t" SDK_NV_LU(Yl, Yh, "d14", "d15", "d16", "d17")         \
  "ldr %[b], [%[kp], #" cbase "]\n\t" SDK_NV_LD8("%[co]")                                 \
  "vld1.8 {d14-d17}, [%[ci]]!\n\tvld1.8 {d18-d21}, [%[ci]]" ci_tail "\n\t"               \
  SDK_NV_LU(Ul, Uh, "d14", "d15", "d16", "d17") SDK_NV_LU(Vl, Vh, "d18", "d19", "d20", "d21") \
  "vld1.8 {d14-d17}, [%[kp]]\n\t"                                                          \
  "vqsub.u8 " Y ", " Y ", q7\n\tveor " U ", " U ", q8\n\tveor " V ", " V ", q8\n\t"        \
  SDK_NV_HALF(Yl, Ul, Vl) SDK_NV_HALF(Yh, Uh, Vh)

void nv12_f32_v7(const uint32_t* yo, const uint32_t* co, const uint8_t* ci, const int16_t* wx,
                 size_t blocks, float* o0, float* o1, float* o2, const Nv12Const* k) {
  const uint8_t* kp = reinterpret_cast<const uint8_t*>(k);
  uint32_t a, b;
  __asm__ volatile(
      "add %[a], %[kp], #240\n\tvld1.16 {d0-d1}, [%[a]]\n\t"
      "1:\n\t"
      // row 0 -> q1 q2 q3; kp at ya: bases at 224 + 4 i, then at 192 + 4 i after the +32
      SDK_NV_ROW("224", "196", "q1", "d2", "d3", "q2", "d4", "d5", "q3", "d6", "d7", "\n\tsub %[ci], %[ci], #32")
      "sub %[kp], %[kp], #32\n\t"
      SDK_NV_ROW("232", "204", "q4", "d8", "d9", "q5", "d10", "d11", "q6", "d12", "d13", "!")
      "add %[kp], %[kp], #32\n\t"  // kp at w0
      "add %[yo], %[yo], #32\n\tadd %[co], %[co], #32\n\t"
      "vld1.8 {d14-d15}, [%[kp]]!\n\t"
      "vmull.u8 q8, d2, d14\n\tvmlal.u8 q8, d8, d15\n\t"
      "vmull.u8 q9, d3, d14\n\tvmlal.u8 q9, d9, d15\n\t"
      "vmull.u8 q10, d4, d14\n\tvmlal.u8 q10, d10, d15\n\t"
      "vmull.u8 q11, d5, d14\n\tvmlal.u8 q11, d11, d15\n\t"
      "vmull.u8 q12, d6, d14\n\tvmlal.u8 q12, d12, d15\n\t"
      "vmull.u8 q13, d7, d14\n\tvmlal.u8 q13, d13, d15\n\t"
      "vld1.16 {d2-d3}, [%[wx]]\n\tadd %[wx], %[wx], #48\n\tvmov.i16 q2, #2\n\t"
      "vhsub.u16 q9, q8, q9\n\tvqrdmulh.s16 q9, q9, q1\n\tvmla.i16 q8, q9, q2\n\t"
      "vhsub.u16 q11, q10, q11\n\tvqrdmulh.s16 q11, q11, q1\n\tvmla.i16 q10, q11, q2\n\t"
      "vhsub.u16 q13, q12, q13\n\tvqrdmulh.s16 q13, q13, q1\n\tvmla.i16 q12, q13, q2\n\t"
      "vmov.i16 q9, #0x4b00\n\tvzip.16 q8, q9\n\t"
      "vmov.i16 q11, #0x4b00\n\tvzip.16 q10, q11\n\t"
      "vmov.i16 q13, #0x4b00\n\tvzip.16 q12, q13\n\t"
      "vld1.32 {d2-d5}, [%[kp]]!\n\tvld1.32 {d6-d7}, [%[kp]]!\n\t"  // ks R, G, B
      "vld1.32 {d8-d11}, [%[kp]]!\n\tvfma.f32 q4, q8, q1\n\tvfma.f32 q5, q9, q1\n\t"
      "vst1.32 {d8-d11}, [%[o0]]!\n\t"
      "vld1.32 {d8-d11}, [%[kp]]!\n\tvfma.f32 q4, q10, q2\n\tvfma.f32 q5, q11, q2\n\t"
      "vst1.32 {d8-d11}, [%[o1]]!\n\t"
      "vld1.32 {d8-d11}, [%[kp]]\n\tvfma.f32 q4, q12, q3\n\tvfma.f32 q5, q13, q3\n\t"
      "vst1.32 {d8-d11}, [%[o2]]!\n\t"
      "sub %[kp], %[kp], #192\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      : [a] "=&r"(a), [b] "=&r"(b), [yo] "+r"(yo), [co] "+r"(co), [ci] "+r"(ci), [wx] "+r"(wx),
        [n] "+r"(blocks), [o0] "+r"(o0), [o1] "+r"(o1), [o2] "+r"(o2), [kp] "+r"(kp)
      :
      : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13",
        "d14", "d15", "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", "d26",
        "d27", "d28", "d29", "d30", "d31", "cc", "memory");
}
#undef SDK_NV_LD
#undef SDK_NV_LD8
#undef SDK_NV_LU
#undef SDK_NV_HALF
#undef SDK_NV_ROW

Nv12Const nv12_const(const Nv12Row& r, size_t yback, size_t cback) {
  Nv12Const k;
  const uint8x16_t ys = vdupq_n_u8(static_cast<uint8_t>(yback));
  vst1q_u8(k.ya, vaddq_u8(vld1q_u8(kYa), ys));
  vst1q_u8(k.yb, vaddq_u8(vld1q_u8(kYb), ys));
  vst1q_u8(k.yoff, vdupq_n_u8(r.yuv.yoff));
  vst1q_u8(k.k80, vdupq_n_u8(0x80));
  vst1_u8(k.w0, vdup_n_u8(static_cast<uint8_t>(256 - r.wy)));
  vst1_u8(k.w1, vdup_n_u8(static_cast<uint8_t>(r.wy)));
  for (int c = 0; c < 3; c++) {
    vst1q_f32(k.ks[c], vdupq_n_f32(r.ks[c]));
    vst1q_f32(k.kb[c], vdupq_n_f32(r.kb[c]));
    vst1q_f32(k.kb[c] + 4, vdupq_n_f32(r.kb[c]));
  }
  k.rows[0] = r.y0 - yback;
  k.rows[1] = r.c0 - cback;
  k.rows[2] = r.y1 - yback;
  k.rows[3] = r.c1 - cback;
  for (int i = 0; i < 8; i++) k.q[i] = i < 5 ? r.yuv.q[i] : 0;
  return k;
}
#endif

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
  const RowConst<T> c = row_const<T>(r);
  T *const oR = c.o[0], *const oG = c.o[1], *const oB = c.o[2];
  size_t i = 0;
  auto blocks = [&](size_t end, size_t yback, size_t cback) __attribute__((always_inline)) {
    const uint8x16_t ya = vaddq_u8(vld1q_u8(kYa), vdupq_n_u8(static_cast<uint8_t>(yback)));
    const uint8x16_t yb = vaddq_u8(vld1q_u8(kYb), vdupq_n_u8(static_cast<uint8_t>(yback)));
#if !defined(__aarch64__)
    if constexpr (sizeof(T) == 4 && !kWy0) {
      if (end > i) {
        const Nv12Const kc = nv12_const(r, yback, cback);
        nv12_f32_v7(r.yofs + i, r.cofs + i, r.cidx + 8 * i, r.wx + 3 * i + 16, (end - i) / 8, oR + i,
                    oG + i, oB + i, &kc);
        i = end;
      }
      return;
    }
#endif
    for (; i < end; i += 8) {
      if constexpr (sizeof(T) == 4 && !kWy0) SDK_MCA_BEGIN("nv12");
      const uint32_t *const yo = r.yofs + i, *const co = r.cofs + i;
      ChromaIdx ci;
      ci.ua = vld1q_u8(r.cidx + 8 * i);  // back shift included (Nv12Row::cidx)
      ci.ub = vld1q_u8(r.cidx + 8 * i + 16);
      ci.va = vld1q_u8(r.cidx + 8 * i + 32);
      ci.vb = vld1q_u8(r.cidx + 8 * i + 48);
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

void u8_resize_bilinear_normalize_chw__neon(const PackedRow& r, const SrcRows* rows, size_t count,
                                            size_t out_stride) {
  packed_rows<float>(r, rows, count, out_stride);
}
void u8_resize_bilinear_normalize_chw_s8__neon(const PackedRow& r, const SrcRows* rows, size_t count,
                                               size_t out_stride) {
  packed_rows<int8_t>(r, rows, count, out_stride);
}
void nv12_resize_bilinear_normalize_chw__neon(const Nv12Row& r, size_t begin) {
  nv12<float>(r, begin);
}
void nv12_resize_bilinear_normalize_chw_s8__neon(const Nv12Row& r, size_t begin) {
  nv12<int8_t>(r, begin);
}

}  // namespace internal
}  // namespace sdk_kernels
