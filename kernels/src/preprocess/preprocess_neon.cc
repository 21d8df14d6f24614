// NEON variant of the fused preprocessing: 4 output pixels per iteration (the source is a
// gather, so 4 pixels is one tbl), then the shared scalar tail. Bit-exact integer path;
// floats identical up to fused multiply-add (the reference uses std::fma).
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

namespace sdk_kernels {
namespace internal {
namespace {

// Blend rows of 4 gathered pixels: 8 bytes at each offset, vertically weighted.
#define SDK_LOAD4(r0, r1, o, w)                                                         \
  pixels4(vblend8(vld1_u8(r0 + o[0]), vld1_u8(r1 + o[0]), w),                          \
          vblend8(vld1_u8(r0 + o[1]), vld1_u8(r1 + o[1]), w),                          \
          vblend8(vld1_u8(r0 + o[2]), vld1_u8(r1 + o[2]), w),                          \
          vblend8(vld1_u8(r0 + o[3]), vld1_u8(r1 + o[3]), w))

template <typename T>
void packed3(const PackedRow& r) {
  const uint8_t* const row0 = r.row0;
  const uint8_t* const row1 = r.row1;
  const uint32_t* const xofs = r.xofs;
  const uint16_t* const wx = r.wx;
  const size_t fast = r.fast;
  const uint8x8_t wy = vdup_n_u8(static_cast<uint8_t>(r.wy));
  const unsigned cn = static_cast<unsigned>(r.cn);
  const GatherIndex g0 = make_gather(r.src_ch[0], r.src_ch[0] + cn);
  const GatherIndex g1 = make_gather(r.src_ch[1], r.src_ch[1] + cn);
  const GatherIndex g2 = make_gather(r.src_ch[2], r.src_ch[2] + cn);
  const float32x4_t ks0 = vdupq_n_f32(r.ks[0]), ks1 = vdupq_n_f32(r.ks[1]), ks2 = vdupq_n_f32(r.ks[2]);
  const float32x4_t kb0 = vdupq_n_f32(r.kb[0]), kb1 = vdupq_n_f32(r.kb[1]), kb2 = vdupq_n_f32(r.kb[2]);
  const float32x4_t qs = vdupq_n_f32(r.qscale);
  T* const o0 = static_cast<T*>(r.out[0]);
  T* const o1 = static_cast<T*>(r.out[1]);
  T* const o2 = static_cast<T*>(r.out[2]);
  size_t i = 0;
  for (; i < fast; i += 4) {
    SDK_MCA_BEGIN("packed3");
    const Pixels4 t = SDK_LOAD4(row0, row1, (xofs + i), wy);
    const uint16x8_t w = vld1q_u16(wx + 2 * i);
    store4(o0 + i, vfmaq_f32(kb0, hblend(gather(t, g0), w), ks0), qs);
    store4(o1 + i, vfmaq_f32(kb1, hblend(gather(t, g1), w), ks1), qs);
    store4(o2 + i, vfmaq_f32(kb2, hblend(gather(t, g2), w), ks2), qs);
    SDK_MCA_END();
  }
  if (sizeof(T) == 1) u8_resize_bilinear_normalize_chw_s8__scalar(r, i);
  else u8_resize_bilinear_normalize_chw__scalar(r, i);
}

template <typename T>
void packed1(const PackedRow& r) {
  const uint8_t* const row0 = r.row0;
  const uint8_t* const row1 = r.row1;
  const uint32_t* const xofs = r.xofs;
  const uint16_t* const wx = r.wx;
  const size_t fast = r.fast;
  const uint8x8_t wy = vdup_n_u8(static_cast<uint8_t>(r.wy));
  const GatherIndex g0 = make_gather(r.src_ch[0], r.src_ch[0] + static_cast<unsigned>(r.cn));
  const float32x4_t ks0 = vdupq_n_f32(r.ks[0]), kb0 = vdupq_n_f32(r.kb[0]);
  const float32x4_t qs = vdupq_n_f32(r.qscale);
  T* const o0 = static_cast<T*>(r.out[0]);
  size_t i = 0;
  for (; i < fast; i += 4) {
    const Pixels4 t = SDK_LOAD4(row0, row1, (xofs + i), wy);
    store4(o0 + i, vfmaq_f32(kb0, hblend(gather(t, g0), vld1q_u16(wx + 2 * i)), ks0), qs);
  }
  if (sizeof(T) == 1) u8_resize_bilinear_normalize_chw_s8__scalar(r, i);
  else u8_resize_bilinear_normalize_chw__scalar(r, i);
}

template <typename T>
void packed_any(const PackedRow& r, size_t begin) {
  if (begin != 0) {  // only the scalar reference serves partial rows
    if (sizeof(T) == 1) u8_resize_bilinear_normalize_chw_s8__scalar(r, begin);
    else u8_resize_bilinear_normalize_chw__scalar(r, begin);
    return;
  }
  if (r.out_c == 1) packed1<T>(r);
  else packed3<T>(r);
}

inline uint64_t load_u16(const uint8_t* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}
inline uint64_t load_u32(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

template <typename T>
void nv12(const Nv12Row& r, size_t begin) {
  if (begin != 0) {
    if (sizeof(T) == 1) nv12_resize_bilinear_normalize_chw_s8__scalar(r, begin);
    else nv12_resize_bilinear_normalize_chw__scalar(r, begin);
    return;
  }
  const uint8_t *const y0 = r.y0, *const y1 = r.y1, *const c0 = r.c0, *const c1 = r.c1;
  const uint32_t *const yofs = r.yofs, *const cofs = r.cofs;
  const uint16_t *const ywx = r.ywx, *const cwx = r.cwx;
  const size_t fast = r.fast;
  const uint8x8_t wy = vdup_n_u8(static_cast<uint8_t>(r.wy));
  const uint8x16_t wc = vdupq_n_u8(static_cast<uint8_t>(r.wc));
#define SDK_K(name) \
  const float32x4_t name##0 = vdupq_n_f32(r.name[0]), name##1 = vdupq_n_f32(r.name[1]), \
                    name##2 = vdupq_n_f32(r.name[2])
  SDK_K(ky);
  SDK_K(ku);
  SDK_K(kv);
  SDK_K(k0);
  SDK_K(lo);
  SDK_K(hi);
#undef SDK_K
  const float32x4_t qs = vdupq_n_f32(r.qscale);
  T* const o0 = static_cast<T*>(r.out[0]);
  T* const o1 = static_cast<T*>(r.out[1]);
  T* const o2 = static_cast<T*>(r.out[2]);
  size_t i = 0;
  // Y: the [l r] byte pair of 4 pixels packed in one d register per row; chroma: the
  // [ul vl ur vr] quad of 4 pixels in one q register per row. All loads stay in the row.
  for (; i < fast; i += 4) {
    SDK_MCA_BEGIN("nv12");
    const uint32_t ya = yofs[i], yb1 = yofs[i + 1], yc = yofs[i + 2], yd = yofs[i + 3];
    const uint32_t ca = cofs[i], cb1 = cofs[i + 1], cc = cofs[i + 2], cd = cofs[i + 3];
    uint16x4_t t0 = vcreate_u16(load_u16(y0 + ya));
    uint16x4_t t1 = vcreate_u16(load_u16(y1 + ya));
    t0 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y0 + yb1), t0, 1);
    t1 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y1 + yb1), t1, 1);
    t0 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y0 + yc), t0, 2);
    t1 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y1 + yc), t1, 2);
    t0 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y0 + yd), t0, 3);
    t1 = vld1_lane_u16(reinterpret_cast<const uint16_t*>(y1 + yd), t1, 3);
    const uint16x8_t yv = vblend8(vreinterpret_u8_u16(t0), vreinterpret_u8_u16(t1), wy);
    uint32x4_t u0 = vcombine_u32(vcreate_u32(load_u32(c0 + ca)), vcreate_u32(0));
    uint32x4_t u1 = vcombine_u32(vcreate_u32(load_u32(c1 + ca)), vcreate_u32(0));
    u0 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c0 + cb1), u0, 1);
    u1 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c1 + cb1), u1, 1);
    u0 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c0 + cc), u0, 2);
    u1 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c1 + cc), u1, 2);
    u0 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c0 + cd), u0, 3);
    u1 = vld1q_lane_u32(reinterpret_cast<const uint32_t*>(c1 + cd), u1, 3);
    const uint8x16_t a = vreinterpretq_u8_u32(u0), b = vreinterpretq_u8_u32(u1);
    // vertical blend of 16 chroma bytes (same wrap-around identity as vblend8)
    uint16x8_t clo = vshll_n_u8(vget_low_u8(a), 8);
    clo = vmlal_u8(clo, vget_low_u8(b), vget_low_u8(wc));
    clo = vmlsl_u8(clo, vget_low_u8(a), vget_low_u8(wc));
#if defined(__aarch64__)
    uint16x8_t chi = vshll_high_n_u8(a, 8);
    chi = vmlal_high_u8(chi, b, wc);
    chi = vmlsl_high_u8(chi, a, wc);
    const uint16x8_t us = vuzp1q_u16(clo, chi), vs = vuzp2q_u16(clo, chi);
#else
    uint16x8_t chi = vshll_n_u8(vget_high_u8(a), 8);
    chi = vmlal_u8(chi, vget_high_u8(b), vget_high_u8(wc));
    chi = vmlsl_u8(chi, vget_high_u8(a), vget_high_u8(wc));
    const uint16x8x2_t z = vuzpq_u16(clo, chi);
    const uint16x8_t us = z.val[0], vs = z.val[1];
#endif
    const uint16x8_t wcx = vld1q_u16(cwx + 2 * i);
    const float32x4_t yf = hblend_pairs(yv, vld1q_u16(ywx + 2 * i));
    const float32x4_t uf = hblend_pairs(us, wcx);
    const float32x4_t vf = hblend_pairs(vs, wcx);
#define SDK_CH(c)                                                                   \
  {                                                                                 \
    float32x4_t acc = vfmaq_f32(k0##c, yf, ky##c);                                  \
    acc = vfmaq_f32(acc, uf, ku##c);                                                \
    acc = vfmaq_f32(acc, vf, kv##c);                                                \
    store4(o##c + i, vminq_f32(vmaxq_f32(acc, lo##c), hi##c), qs);                   \
  }
    SDK_CH(0)
    SDK_CH(1)
    SDK_CH(2)
#undef SDK_CH
    SDK_MCA_END();
  }
  if (sizeof(T) == 1) nv12_resize_bilinear_normalize_chw_s8__scalar(r, i);
  else nv12_resize_bilinear_normalize_chw__scalar(r, i);
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
