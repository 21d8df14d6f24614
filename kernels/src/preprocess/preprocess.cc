// Driver of the fused preprocessing: validates, lays out the letterbox, builds the
// coordinate tables of one column chunk on the stack and calls the dispatched microkernel
// once per output row (NV12) or per batch of up to 64 output rows (packed formats). Shared by
// every variant, so the tables are identical.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../internal.h"

namespace sdk_kernels {

using internal::kChunk;

int pixel_format_channels(PixelFormat fmt) {
  switch (fmt) {
    case PixelFormat::BGR:
    case PixelFormat::RGB: return 3;
    case PixelFormat::RGBA: return 4;
    default: return 1;
  }
}

int preprocess_out_channels(const Image& src) { return src.format == PixelFormat::GRAY ? 1 : 3; }

const char* check_preprocess(const Image& src, const PreprocessParams& p) {
  const int f = static_cast<int>(src.format);
  if (f < 0 || f > 5) return "unknown pixel format";
  if (src.width <= 0 || src.height <= 0) return "empty source image";
  if (p.out_width <= 0 || p.out_height <= 0) return "empty output size";
  if (src.data == nullptr) return "null source";
  const size_t cn = static_cast<size_t>(pixel_format_channels(src.format));
  if (src.stride < cn * static_cast<size_t>(src.width)) return "row stride < width * channels";
  if (src.format == PixelFormat::NV12 || src.format == PixelFormat::NV21) {
    if (src.width % 2 || src.height % 2) return "NV12/NV21 needs an even width and height";
    if (src.uv == nullptr) return "NV12/NV21 needs a chroma plane";
    if (src.uv_stride < static_cast<size_t>(src.width)) return "chroma stride < width";
  }
  for (int c = 0; c < 3; c++)
    if (!std::isfinite(p.mean[c]) || !std::isfinite(p.norm[c])) return "mean/norm not finite";
  return nullptr;
}

LetterboxInfo preprocess_layout(const Image& src, const PreprocessParams& p) {
  LetterboxInfo li{};
  if (!p.letterbox) {
    li.resized_width = p.out_width;
    li.resized_height = p.out_height;
  } else {
    const double r = std::min(static_cast<double>(p.out_width) / src.width,
                              static_cast<double>(p.out_height) / src.height);
    li.resized_width = std::clamp(static_cast<int>(std::lround(src.width * r)), 1, p.out_width);
    li.resized_height =
        std::clamp(static_cast<int>(std::lround(src.height * r)), 1, p.out_height);
    li.offset_x = (p.out_width - li.resized_width) / 2;
    li.offset_y = (p.out_height - li.resized_height) / 2;
  }
  li.scale_x = static_cast<float>(li.resized_width) / static_cast<float>(src.width);
  li.scale_y = static_cast<float>(li.resized_height) / static_cast<float>(src.height);
  return li;
}

namespace {

// lrint(x) (round to nearest, ties to even, in the current mode) without the libm call on
// AArch64, where nearbyint is one frinti (the call and its register saves were a third of
// each coordinate's instructions).
inline long round_int(float x) {
#if defined(__aarch64__)
  return static_cast<long>(std::nearbyint(x));
#else
  return std::lrint(x);
#endif
}

// cv2.resize INTER_LINEAR source coordinate: half-pixel centres, clamped at both edges.
// Returns the left/top index i0 (with i0 + 1 < size unless size == 1) and the weight of
// i0 + 1 as a float in [0, 1].
inline void coord(int size, double scale, int d, int* i0, float* f) {
  float fx = static_cast<float>((d + 0.5) * scale - 0.5);
  int sx = static_cast<int>(std::floor(fx));
  fx -= static_cast<float>(sx);
  if (sx < 0) { sx = 0; fx = 0.f; }
  if (sx >= size - 1) {
    sx = size - 1;
    fx = 0.f;
    if (size > 1) { sx = size - 2; fx = 1.f; }  // same value, keeps sx + 1 in range
  }
  *i0 = sx;
  *f = fx;
}

// Left tap offsets (bytes) and negated Q15 right-tap weights of output pixels begin..begin+n
// (internal.h: blocks of 8 pixels, kWxBlock weights each); the last block is padded.
void x_table(int src_w, int dst_w, int cn, int begin, size_t n, uint32_t* xofs, int16_t* wx) {
  const double scale = static_cast<double>(src_w) / dst_w;
  const float one = static_cast<float>(1 << internal::kWxBits);
  for (size_t b = 0; b < (n + 7) / 8; b++) {
    int16_t* const blk = wx + b * internal::kWxBlock;
    for (size_t j = 0; j < 8; j++) {  // unrolled: constant offsets
      const size_t i = 8 * b + j;
      int sx = 0;
      float f = 0.f;
      if (i < n) coord(src_w, scale, begin + static_cast<int>(i), &sx, &f);
      xofs[i] = static_cast<uint32_t>(sx * cn);
      const auto w = static_cast<int16_t>(-round_int(f * one));  // f = 1 -> -32768 fits
      blk[j < 4 ? j : 4 + j] = w;      // [w0..3 . | w4..7 .]
      blk[j < 4 ? 4 + j : 8 + j] = w;  // [. w0..3 | . w4..7]
      blk[16 + j] = w;                 // [w0..7] (internal::wx_index)
    }
  }
}

// NEON tbl indices of the packed kernels (PackedRow::gidx): a 4-pixel table holds pixel p's
// 8-byte load at byte kTapStride * p (internal.h), its left tap there, its right tap cn bytes later.
void packed_gather(const internal::PackedRow& r, uint8_t g[3][16]) {
  const uint32_t c2 = r.out_c == 1 ? r.src_ch[0] : r.src_ch[2];
  for (uint32_t p = 0; p < 4; p++) {
    const uint32_t left = internal::kTapStride * p, right = left + static_cast<uint32_t>(r.cn);
    g[0][p] = static_cast<uint8_t>(left + r.src_ch[0]);
    g[0][4 + p] = static_cast<uint8_t>(left + r.src_ch[1]);
    g[0][8 + p] = static_cast<uint8_t>(right + r.src_ch[0]);
    g[0][12 + p] = static_cast<uint8_t>(right + r.src_ch[1]);
    g[1][p] = static_cast<uint8_t>(left + c2);
    g[1][8 + p] = static_cast<uint8_t>(right + c2);
    g[1][4 + p] = g[1][12 + p] = 0x80;  // out of range (even + back): tbl writes 0, tbx keeps
    g[2][4 + p] = g[1][p];
    g[2][12 + p] = g[1][8 + p];
    g[2][p] = g[2][8 + p] = 0x80;
  }
}

// NEON tbl/tbx indices of U and V in the chroma loads of each 8-pixel block (Nv12Row::cidx):
// pixel p loads 8 bytes at its left tap's chroma pair (byte kTapStride * p of the table); the
// right tap's pair is 2 bytes on if x0 is odd. Blocks from pixel `back_from` on load `back`
// bytes earlier (Nv12Row::fast_back): their indices are `back` higher.
void chroma_gather(const uint32_t* yofs, size_t n, uint32_t u_first, size_t back_from, uint32_t back,
                   uint8_t* idx) {
  for (size_t i = 0; i < ((n + 7) & ~size_t(7)); i++) {
    const uint32_t sh = i >= back_from ? back : 0;
    for (uint32_t v = 0; v < 2; v++) {  // U, then V
      const uint32_t u = (u_first ? 0 : 1) ^ v;
      uint8_t* blk = idx + (i >> 3) * 64 + 32 * v;
      const size_t j = i & 7, p = j & 3;
      uint8_t* t = blk + (j < 4 ? 0 : 16);  // tbl over pixels 0-3, tbx over 4-7
      uint8_t* other = blk + (j < 4 ? 16 : 0);
      const uint32_t odd = i < n ? (yofs[i] & 1) : 0;
      const size_t l = (j < 4 ? 0 : 4) + p, rr = 8 + l;
      const uint32_t at = internal::kTapStride * static_cast<uint32_t>(p) + sh;
      t[l] = static_cast<uint8_t>(at + u);
      t[rr] = static_cast<uint8_t>(at + 2 * odd + u);
      other[l] = other[rr] = 0xF0;  // out of range
    }
  }
}

inline __attribute__((always_inline)) void y_coord(int src_h, int dst_h, int dy, int* y0, int* y1,
                                             uint32_t* wy) {
  int sy;
  float f;
  coord(src_h, static_cast<double>(src_h) / dst_h, dy, &sy, &f);
  long w = round_int(f * static_cast<float>(1 << internal::kWyBits));
  if (w >= (1 << internal::kWyBits)) { sy += 1; w = 0; }  // weight 1.0 -> next row alone
  *y0 = sy;
  *y1 = std::min(sy + 1, src_h - 1);
  *wy = static_cast<uint32_t>(w);
}

// The colour model of PreprocessParams::yuv_full_range as the integer YuvModel (internal.h).
// Limited range: OpenCV's BT.601 coefficients (color_yuv.simd.hpp, ITUR_BT_601_* / 2^20);
// full range: BT.601 / JFIF.
internal::YuvModel yuv_model(bool full_range) {
  const double lim[5] = {1220542 / 1048576.0, 1673527 / 1048576.0, -409993 / 1048576.0,
                         -852492 / 1048576.0, 2116026 / 1048576.0};
  const double full[5] = {1.0, 1.402, -0.344136, -0.714136, 1.772};
  const double* k = full_range ? full : lim;
  internal::YuvModel m{};
  for (int i = 0; i < 5; i++)
    m.q[i] = static_cast<int16_t>(std::lrint(k[i] * (i == 4 ? 8192.0 : 16384.0)));
  m.yoff = full_range ? 0 : 16;
  return m;
}

// Leading pixels, rounded down to a multiple of 8, whose `bytes`-wide load at xofs stays
// inside a row of `row_bytes` (xofs is non-decreasing, so one scan from the end suffices).
size_t fast_pixels(const uint32_t* xofs, size_t n, size_t bytes, size_t row_bytes) {
  size_t k = n;
  while (k > 0 && xofs[k - 1] + bytes > row_bytes) k--;
  return k & ~size_t(7);
}

// End of the blocks after `fast` whose taps (`pair` bytes at xofs) lie in the row and whose
// first left tap is at least `back` bytes in (the 8-byte load ending at the pair starts there).
size_t back_pixels(const uint32_t* xofs, size_t fast, size_t n, size_t pair, size_t row_bytes,
                   size_t back) {
  if (fast >= n || xofs[fast] < back) return fast;
  size_t k = n;
  while (k > fast && xofs[k - 1] + pair > row_bytes) k--;
  return fast + ((k - fast) & ~size_t(7));
}

template <typename T>
void fill_pad(T* plane, int ow, int oh, const LetterboxInfo& li, T v) {
  for (int y = 0; y < oh; y++) {
    T* row = plane + static_cast<size_t>(y) * ow;
    if (y < li.offset_y || y >= li.offset_y + li.resized_height) {
      std::fill(row, row + ow, v);
    } else {
      std::fill(row, row + li.offset_x, v);
      std::fill(row + li.offset_x + li.resized_width, row + ow, v);
    }
  }
}

template <typename T>
bool run(const Image& src, const PreprocessParams& p, float qscale, T* dst, LetterboxInfo* info,
         internal::PackedFn packed, internal::Nv12Fn nv12) {
  if (check_preprocess(src, p) != nullptr || dst == nullptr) return false;
  const LetterboxInfo li = preprocess_layout(src, p);
  if (info) *info = li;
  const int oc = preprocess_out_channels(src);
  const size_t plane = static_cast<size_t>(p.out_width) * p.out_height;

  // Output channel c takes source channel src_ch[c] (packed) and has constants ks/kb
  // (internal.h: h is in 1/256 u8 steps, offset by the 2^23 of the conversion).
  const bool src_rgb = src.format == PixelFormat::RGB || src.format == PixelFormat::RGBA;
  uint32_t src_ch[3] = {0, 1, 2};
  if (oc == 3 && src_rgb != p.rgb_out) { src_ch[0] = 2; src_ch[2] = 0; }
  float ks[3], kb[3];
  for (int c = 0; c < 3; c++) {
    ks[c] = p.norm[c] / 256.f;  // exact
    kb[c] = static_cast<float>(-static_cast<double>(p.mean[c]) * p.norm[c] -
                               static_cast<double>(internal::kMagic) * ks[c]);
  }

  if (p.letterbox) {
    for (int c = 0; c < oc; c++) {
      const float v = (static_cast<float>(p.pad) - p.mean[c]) * p.norm[c];
      T pv;
      if constexpr (sizeof(T) == 1) pv = internal::quantize_s8(v, qscale);
      else pv = v;
      fill_pad(dst + c * plane, p.out_width, p.out_height, li, pv);
    }
  }

  const bool is_nv = src.format == PixelFormat::NV12 || src.format == PixelFormat::NV21;
  const int cn = pixel_format_channels(src.format);
  alignas(16) uint32_t xofs[kChunk], cofs[kChunk], xstep[kChunk];
  constexpr int kRowBatch = 64;  // output rows per PackedFn call
  internal::SrcRows ys[kRowBatch];
  alignas(16) int16_t wx[kChunk / 8 * internal::kWxBlock];
  alignas(16) uint8_t cidx[kChunk * 8];

  internal::PackedRow pr{};
  internal::Nv12Row nr{};
  int colour[3] = {0, 1, 2};  // NV12: output channel -> R, G, B
  if (is_nv) {
    nr.yuv = yuv_model(p.yuv_full_range);
    nr.u_first = src.format == PixelFormat::NV12 ? 1 : 0;
    for (int c = 0; c < 3; c++) {
      const int k = p.rgb_out ? c : 2 - c;
      colour[c] = k;
      nr.ks[k] = ks[c];
      nr.kb[k] = kb[c];
    }
    nr.qscale = qscale;
  } else {
    pr.cn = static_cast<size_t>(cn);
    pr.out_c = static_cast<size_t>(oc);
    for (int c = 0; c < 3; c++) {
      pr.src_ch[c] = oc == 1 ? 0 : src_ch[c];
      pr.ks[c] = ks[c];
      pr.kb[c] = kb[c];
    }
    pr.qscale = qscale;
    packed_gather(pr, pr.gidx);
  }

  const int rw = li.resized_width, rh = li.resized_height;
  for (int x0 = 0; x0 < rw; x0 += static_cast<int>(kChunk)) {
    const size_t n = std::min(kChunk, static_cast<size_t>(rw - x0));
    x_table(src.width, rw, is_nv ? 1 : cn, x0, n, xofs, wx);
    if (is_nv) {
      for (size_t i = 0; i < n; i++) cofs[i] = xofs[i] & ~1u;
      nr.n = n;
      // forward: 8-byte loads at x0 (and at cofs <= x0); backward: luma 6, chroma 4 bytes
      // before the taps, needing x0 + 4 <= width (both chroma pairs of cofs in the row)
      nr.fast = fast_pixels(xofs, n, 8, static_cast<size_t>(src.width));
      nr.fast_back = back_pixels(xofs, nr.fast, n, 4, static_cast<size_t>(src.width), 6);
      chroma_gather(xofs, n, nr.u_first, nr.fast, 4, cidx);
      nr.yofs = xofs;
      nr.cofs = cofs;
      nr.cidx = cidx;
      nr.wx = wx;
    } else {
      pr.n = n;
      pr.fast = fast_pixels(xofs, n, 8, static_cast<size_t>(src.width) * cn);
      pr.back = cn < 4 ? static_cast<size_t>(8 - 2 * cn) : 0;
      pr.fast_back = back_pixels(xofs, pr.fast, n, 2 * static_cast<size_t>(cn),
                                 static_cast<size_t>(src.width) * cn, pr.back);
      pr.pairs = fast_pixels(xofs, n, 2 * static_cast<size_t>(cn), static_cast<size_t>(src.width) * cn);
      for (size_t i = 0; i < n; i++) xstep[i] = i + 1 < n ? xofs[i + 1] - xofs[i] : 0;
      pr.xofs = xofs;
      pr.xstep = xstep;
      pr.wx = wx;
    }
    if (!is_nv) {
      for (int dy0 = 0; dy0 < rh; dy0 += kRowBatch) {
        const int count = std::min(kRowBatch, rh - dy0);
        for (int k = 0; k < count; k++) {
          int sy0, sy1;
          uint32_t wy;
          y_coord(src.height, rh, dy0 + k, &sy0, &sy1, &wy);
          const uint8_t* r0 = src.data + sy0 * src.stride;
          ys[k] = {r0, wy ? src.data + sy1 * src.stride : r0, wy};
        }
        const size_t o = static_cast<size_t>(dy0 + li.offset_y) * p.out_width + li.offset_x + x0;
        for (int c = 0; c < oc; c++) pr.out[c] = dst + c * plane + o;
        packed(pr, ys, static_cast<size_t>(count), static_cast<size_t>(p.out_width));
      }
      continue;
    }
    for (int dy = 0; dy < rh; dy++) {
      int sy0, sy1;
      uint32_t wy;
      y_coord(src.height, rh, dy, &sy0, &sy1, &wy);
      const size_t o = static_cast<size_t>(dy + li.offset_y) * p.out_width + li.offset_x + x0;
      nr.y0 = src.data + sy0 * src.stride;
      nr.y1 = src.data + sy1 * src.stride;
      nr.c0 = src.uv + (sy0 >> 1) * src.uv_stride;
      nr.c1 = src.uv + (sy1 >> 1) * src.uv_stride;
      nr.wy = wy;
      for (int c = 0; c < 3; c++) nr.out[colour[c]] = dst + c * plane + o;
      nv12(nr, 0);
    }
  }
  return true;
}

}  // namespace

bool preprocess_f32(const Image& src, const PreprocessParams& p, float* dst,
                    LetterboxInfo* info) {
  const auto& d = internal::dispatch();
  return run<float>(src, p, 0.f, dst, info, d.packed_f32, d.nv12_f32);
}

bool preprocess_s8(const Image& src, const PreprocessParams& p, float input_scale, int8_t* dst,
                   LetterboxInfo* info) {
  const auto& d = internal::dispatch();
  return run<int8_t>(src, p, input_scale, dst, info, d.packed_s8, d.nv12_s8);
}

}  // namespace sdk_kernels
