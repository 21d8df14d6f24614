// AArch64 NEON: the float rows of 3-channel packed sources (BGR/RGB), the bench's bgr case
// (preprocess_neon.cc dispatches here). Same fixed point as the scalar reference (internal.h),
// bit-exact with it.
#include "../internal.h"
#include "../neon_util.h"

#if defined(__aarch64__)

// llvm-mca region around the loop (sdk kernels bench compiles this file to assembly with
// -DSDK_KERNELS_MCA_MARKERS; never defined in a real build).
#if defined(SDK_KERNELS_MCA_MARKERS)
#define SDK_MCA_B(name) "# LLVM-MCA-BEGIN " name "\n\t"
#define SDK_MCA_E "# LLVM-MCA-END\n\t"
#else
#define SDK_MCA_B(name) ""
#define SDK_MCA_E ""
#endif
#define SDK_INLINE inline __attribute__((always_inline))

namespace sdk_kernels {
namespace internal {
namespace {

// AArch64, float output, 3-channel source (BGR/RGB) of at least 2 pixels: two output rows per
// iteration, 8 pixels each (the bench's loop: 127 instructions per 16 pixels, against 140 for two
// blocks of packed3_f32_a64). Each pixel's two taps are the 6 bytes at xofs, one ld3 of three
// halfwords into lane p: (s0 s1 of the left tap), (s2 left, s0 right), (s1 s2 right), source
// channels s; loads are post-indexed by xstep (one pointer per source row, the steps shared by
// the 4 rows), never past the taps, so no block needs a backward load. The vertical blend is
// lane-wise on those pairs; one uzp1/uzp2 per pair of u16 vectors then gives the left and the
// right value of each channel for pixels 0-7, and the same hblend / zip / FMA as packed3
// follow: bit-exact with it. A row with wy = 0 has row1 = row0 (SrcRows): weights 128 + 128.
// Constants v16-v23 (w0/w1 of both rows, 2, magic, ks in source-channel order, wx), working
// v0-v7, accumulators v24-v29 (no callee-saved register).
struct Ld3Const {
  uint16_t two[8], magic[8];
  float ks[4];       // by source channel
  float kb[6][4];    // kb of source channel s, twice (the accumulators of pixels 0-3, 4-7)
};
static_assert(sizeof(Ld3Const) == 144, "layout read by the asm below");

#define SDK_L3(v, p, k, d) "ld3 {" v "}[" #k "], [%[" p "]], " d "\n\t"
#define SDK_V012 "v0.h, v1.h, v2.h"
#define SDK_V012_R "v0.8h, v1.8h, v2.8h"
#define SDK_V345 "v3.h, v4.h, v5.h"
#define SDK_V345_R "v3.8h, v4.8h, v5.8h"
// Lane 0 by ld3r (all lanes): a fresh register, no wait for its last reader. The two source
// rows' loads alternate (two independent chains of lane inserts).
#define SDK_L3X2(p0, p1, k, d) SDK_L3(SDK_V012, p0, k, d) SDK_L3(SDK_V345, p1, k, d)
#define SDK_L3X8(p0, p1)                                                                       \
  "ld3r {" SDK_V012_R "}, [%[" p0 "]], x9\n\tld3r {" SDK_V345_R "}, [%[" p1 "]], x9\n\t"       \
  SDK_L3X2(p0, p1, 1, "x10") SDK_L3X2(p0, p1, 2, "x11") SDK_L3X2(p0, p1, 3, "x12")             \
  SDK_L3X2(p0, p1, 4, "x13") SDK_L3X2(p0, p1, 5, "x14") SDK_L3X2(p0, p1, 6, "x15")             \
  SDK_L3X2(p0, p1, 7, "x16")
// One row: loads into v0-v5, then (SDK_ROW3_MATH) the vertical blend into v24-v29, the
// de-interleave back into v0-v5, the blends, zip and FMA (accumulators v24-v29); each step on
// the three channels before the next (independent instructions adjacent, for in-order cores).
#define SDK_ROW3_MATH(w0, w1)                                                                     \
  "umull v24.8h, v0.8b, " w0 ".8b\n\tumull2 v25.8h, v0.16b, " w0 ".16b\n\t"                     \
  "umull v26.8h, v1.8b, " w0 ".8b\n\tumull2 v27.8h, v1.16b, " w0 ".16b\n\t"                     \
  "umull v28.8h, v2.8b, " w0 ".8b\n\tumull2 v29.8h, v2.16b, " w0 ".16b\n\t"                     \
  "umlal v24.8h, v3.8b, " w1 ".8b\n\tumlal2 v25.8h, v3.16b, " w1 ".16b\n\t"                     \
  "umlal v26.8h, v4.8b, " w1 ".8b\n\tumlal2 v27.8h, v4.16b, " w1 ".16b\n\t"                     \
  "umlal v28.8h, v5.8b, " w1 ".8b\n\tumlal2 v29.8h, v5.16b, " w1 ".16b\n\t"                     \
  "uzp1 v0.8h, v24.8h, v25.8h\n\tuzp2 v1.8h, v24.8h, v25.8h\n\t" /* s0, s1 left */              \
  "uzp1 v2.8h, v26.8h, v27.8h\n\tuzp2 v3.8h, v26.8h, v27.8h\n\t" /* s2 left, s0 right */        \
  "uzp1 v4.8h, v28.8h, v29.8h\n\tuzp2 v5.8h, v28.8h, v29.8h\n\t" /* s1, s2 right */             \
  "uhsub v3.8h, v0.8h, v3.8h\n\tuhsub v4.8h, v1.8h, v4.8h\n\tuhsub v5.8h, v2.8h, v5.8h\n\t"        \
  "sqrdmulh v3.8h, v3.8h, v23.8h\n\tsqrdmulh v4.8h, v4.8h, v23.8h\n\t"                          \
  "sqrdmulh v5.8h, v5.8h, v23.8h\n\t"                                                          \
  "ld1 {v24.4s-v27.4s}, [%[kb]]\n\tldp q28, q29, [%[kb], #64]\n\t"                              \
  "mla v0.8h, v3.8h, v20.8h\n\tmla v1.8h, v4.8h, v20.8h\n\tmla v2.8h, v5.8h, v20.8h\n\t"         \
  "zip1 v3.8h, v0.8h, v21.8h\n\tzip2 v4.8h, v0.8h, v21.8h\n\t"                                  \
  "zip1 v5.8h, v1.8h, v21.8h\n\tzip2 v6.8h, v1.8h, v21.8h\n\t"                                  \
  "zip1 v7.8h, v2.8h, v21.8h\n\tzip2 v0.8h, v2.8h, v21.8h\n\t"                                  \
  "fmla v24.4s, v3.4s, v22.s[0]\n\tfmla v25.4s, v4.4s, v22.s[0]\n\t"                            \
  "fmla v26.4s, v5.4s, v22.s[1]\n\tfmla v27.4s, v6.4s, v22.s[1]\n\t"                            \
  "fmla v28.4s, v7.4s, v22.s[2]\n\tfmla v29.4s, v0.4s, v22.s[2]\n\t"
#define SDK_ROW3_STORE(o0, o1, o2)                                                       \
  "stp q24, q25, [%[" o0 "]], #32\n\tstp q26, q27, [%[" o1 "]], #32\n\t"                \
  "stp q28, q29, [%[" o2 "]], #32\n\t"
#define SDK_LD3_HEAD(mark)                                               \
  "dup v16.16b, %w[w]\n\tlsr %w[w], %w[w], #8\n\tdup v17.16b, %w[w]\n\t"    \
  "lsr %w[w], %w[w], #8\n\tdup v18.16b, %w[w]\n\tlsr %w[w], %w[w], #8\n\t"  \
  "dup v19.16b, %w[w]\n\t" /* the bytes of w: w0, w1 of row a, of row b */  \
  "ld1 {v20.8h-v22.8h}, [%[k]]\n\t" /* two, magic, ks */                 \
  "1:\n\t" mark                                                          \
  "ldp w9, w10, [%[xs]], #8\n\tldp w11, w12, [%[xs]], #8\n\t"            \
  "ldp w13, w14, [%[xs]], #8\n\tldp w15, w16, [%[xs]], #8\n\t"           \
  "ldr q23, [%[wx], #48]!\n\t" /* w0..7, the third copy of the block */
#define SDK_LD3_OPS                                                                                \
  : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [xs] "+r"(xs), [wx] "+r"(wx),     \
    [n] "+r"(blocks), [oa0] "+r"(oa0), [oa1] "+r"(oa1), [oa2] "+r"(oa2), [ob0] "+r"(ob0),          \
    [ob1] "+r"(ob1), [ob2] "+r"(ob2), [w] "+r"(w)                                                  \
  : [k] "r"(k), [kb] "r"(k->kb[0])                                                                 \
  : "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "v0", "v1", "v2", "v3", "v4", "v5",     \
    "v6", "v7", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26",       \
    "v27", "v28", "v29", "cc", "memory"

// Rows a (a0/a1, weight wa of a1, outputs oa) and, with kTwo, b; `blocks` blocks of 8 from
// the chain starts a0..b1 (row + xofs[0]). wx: the wx table minus 16 bytes (pre-indexed +48).
template <bool kTwo>
SDK_INLINE void packed3_ld3_f32_a64(const uint8_t* a0, const uint8_t* a1, const uint8_t* b0,
                                    const uint8_t* b1, uint32_t wa, uint32_t wb,
                                    const uint32_t* xs, uintptr_t wx, size_t blocks, float* oa0,
                                    float* oa1, float* oa2, float* ob0, float* ob1, float* ob2,
                                    const Ld3Const* k) {
  uint32_t w = (256 - wa) | wa << 8 | (256 - wb) << 16 | wb << 24;
  if constexpr (kTwo)
    __asm__ volatile(SDK_LD3_HEAD(SDK_MCA_B("packed3"))  // region: the whole loop body
                     SDK_L3X8("a0", "a1") SDK_ROW3_MATH("v16", "v17")
                     SDK_L3X8("b0", "b1") SDK_ROW3_STORE("oa0", "oa1", "oa2")
                     SDK_ROW3_MATH("v18", "v19") SDK_ROW3_STORE("ob0", "ob1", "ob2")
                     "subs %[n], %[n], #1\n\tb.ne 1b\n\t" SDK_MCA_E SDK_LD3_OPS);
  else
    __asm__ volatile(SDK_LD3_HEAD("") SDK_L3X8("a0", "a1") SDK_ROW3_MATH("v16", "v17")
                     SDK_ROW3_STORE("oa0", "oa1", "oa2")
                     "subs %[n], %[n], #1\n\tb.ne 1b\n\t" SDK_LD3_OPS);
}
#undef SDK_L3
#undef SDK_V012
#undef SDK_V012_R
#undef SDK_V345
#undef SDK_V345_R
#undef SDK_L3X2
#undef SDK_L3X8
#undef SDK_ROW3_MATH
#undef SDK_ROW3_STORE
#undef SDK_LD3_HEAD
#undef SDK_LD3_OPS

}  // namespace

void packed3_ld3_f32_rows(const PackedRow& r, const SrcRows* rows, size_t count, size_t stride) {
  Ld3Const k;
  vst1q_u16(k.two, vdupq_n_u16(2));
  vst1q_u16(k.magic, vdupq_n_u16(kMagicBits >> 16));
  float* so[3];
  for (int c = 0; c < 3; c++) {
    const uint32_t s = r.src_ch[c];
    so[s] = static_cast<float*>(r.out[c]);
    k.ks[s] = r.ks[c];
    vst1q_f32(k.kb[2 * s], vdupq_n_f32(r.kb[c]));
    vst1q_f32(k.kb[2 * s + 1], vdupq_n_f32(r.kb[c]));
  }
  k.ks[3] = 0.f;
  const size_t blocks = r.pairs / 8, x0 = r.xofs[0];
  const uintptr_t wx = reinterpret_cast<uintptr_t>(r.wx) + 2 * 16 - 48;
  auto w1 = [](uint32_t wy) { return wy ? wy : 128u; };  // wy = 0: row1 = row0, 128 + 128
  for (size_t j = 0; j < count; j += 2) {
    const SrcRows &a = rows[j];
    float* const oa[3] = {so[0] + j * stride, so[1] + j * stride, so[2] + j * stride};
    if (j + 1 < count) {
      const SrcRows& b = rows[j + 1];
      packed3_ld3_f32_a64<true>(a.row0 + x0, a.row1 + x0, b.row0 + x0, b.row1 + x0, w1(a.wy),
                                w1(b.wy), r.xstep, wx, blocks, oa[0], oa[1], oa[2], oa[0] + stride,
                                oa[1] + stride, oa[2] + stride, &k);
    } else {
      packed3_ld3_f32_a64<false>(a.row0 + x0, a.row1 + x0, nullptr, nullptr, w1(a.wy), 128,
                                 r.xstep, wx, blocks, oa[0], oa[1], oa[2], nullptr, nullptr,
                                 nullptr, &k);
    }
  }
  if (r.pairs == r.n) return;
  PackedRow q = r;
  for (size_t j = 0; j < count; j++) {
    q.row0 = rows[j].row0;
    q.row1 = rows[j].row1;
    q.wy = rows[j].wy;
    for (int c = 0; c < 3; c++) q.out[c] = static_cast<float*>(r.out[c]) + j * stride;
    u8_resize_bilinear_normalize_chw_row__scalar(q, r.pairs);
  }
}

}  // namespace internal
}  // namespace sdk_kernels

#endif  // __aarch64__
