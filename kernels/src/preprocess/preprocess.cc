// Driver of the fused preprocessing: validates, lays out the letterbox, builds the
// coordinate tables of one column chunk on the stack and calls the dispatched microkernel
// once per output row. Shared by every variant, so the tables are identical.
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

// Weights are stored in blocks of 4 pixels [wl0..3 wr0..3] (packed formats, `interleaved`
// false) or per pixel [wl wr] (NV12/NV21).
void x_table(int src_w, int dst_w, int cn, int begin, size_t n, uint32_t* xofs, uint16_t* wx,
             bool interleaved) {
  const double scale = static_cast<double>(src_w) / dst_w;
  const float one = static_cast<float>(1 << internal::kWxBits);
  for (size_t i = 0; i < n; i++) {
    int sx;
    float f;
    coord(src_w, scale, begin + static_cast<int>(i), &sx, &f);
    const auto wr = static_cast<uint32_t>(std::lrint(f * one));
    xofs[i] = static_cast<uint32_t>(sx * cn);
    const size_t l = interleaved ? 2 * i : internal::wl_index(i);
    const size_t r = interleaved ? 2 * i + 1 : internal::wr_index(i);
    wx[l] = static_cast<uint16_t>((1u << internal::kWxBits) - wr);
    wx[r] = static_cast<uint16_t>(wr);
  }
  for (size_t i = n; i % 4; i++) {  // pad the last block (never read as a full block)
    xofs[i] = 0;
    wx[interleaved ? 2 * i : internal::wl_index(i)] = 0;
    wx[interleaved ? 2 * i + 1 : internal::wr_index(i)] = 0;
  }
}

void y_coord(int src_h, int dst_h, int dy, int* y0, int* y1, uint32_t* wy) {
  int sy;
  float f;
  coord(src_h, static_cast<double>(src_h) / dst_h, dy, &sy, &f);
  long w = std::lrint(f * static_cast<float>(1 << internal::kWyBits));
  if (w >= (1 << internal::kWyBits)) { sy += 1; w = 0; }  // weight 1.0 -> next row alone
  *y0 = sy;
  *y1 = std::min(sy + 1, src_h - 1);
  *wy = static_cast<uint32_t>(w);
}

// Leading pixels, rounded down to a multiple of 4, whose `bytes`-wide load at xofs stays
// inside a row of `row_bytes` (xofs is non-decreasing, so one scan from the end suffices).
size_t fast_pixels(const uint32_t* xofs, size_t n, size_t bytes, size_t row_bytes) {
  size_t k = n;
  while (k > 0 && xofs[k - 1] + bytes > row_bytes) k--;
  return k & ~size_t(3);
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

  // Output channel c takes source channel src_ch[c] (packed) and has constants ks/kb.
  const bool src_rgb = src.format == PixelFormat::RGB || src.format == PixelFormat::RGBA;
  uint32_t src_ch[3] = {0, 1, 2};
  if (oc == 3 && src_rgb != p.rgb_out) { src_ch[0] = 2; src_ch[2] = 0; }
  float ks[3], kb[3];
  for (int c = 0; c < 3; c++) {
    ks[c] = p.norm[c] * internal::kAccScale;
    kb[c] = -p.mean[c] * p.norm[c];
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
  alignas(16) uint32_t xofs[kChunk], cofs[kChunk];
  alignas(16) uint16_t wx[2 * kChunk], cwx[2 * kChunk];

  internal::PackedRow pr{};
  internal::Nv12Row nr{};
  if (is_nv) {
    // OpenCV's BT.601 limited-range integer coefficients (x / 2^20), folded with mean/norm.
    const float cy = 1220542.f / 1048576.f, cvr = 1673527.f / 1048576.f;
    const float cvg = -852492.f / 1048576.f, cug = -409993.f / 1048576.f;
    const float cub = 2116026.f / 1048576.f;
    const bool nv21 = src.format == PixelFormat::NV21;
    // rows of [y, u, v] -> R, G, B
    const float m[3][3] = {{cy, 0.f, cvr}, {cy, cug, cvg}, {cy, cub, 0.f}};
    for (int c = 0; c < 3; c++) {
      const int rgb = p.rgb_out ? c : 2 - c;
      const float n = p.norm[c];
      const float ku = m[rgb][1], kv = m[rgb][2];
      nr.ky[c] = m[rgb][0] * n * internal::kAccScale;
      nr.ku[c] = (nv21 ? kv : ku) * n * internal::kAccScale;
      nr.kv[c] = (nv21 ? ku : kv) * n * internal::kAccScale;
      nr.k0[c] = (-16.f * m[rgb][0] - 128.f * (ku + kv) - p.mean[c]) * n;
      const float a = -p.mean[c] * n, b = (255.f - p.mean[c]) * n;
      nr.lo[c] = std::min(a, b);
      nr.hi[c] = std::max(a, b);
    }
    nr.qscale = qscale;
    nr.y_bytes = static_cast<size_t>(src.width);
    nr.c_bytes = static_cast<size_t>(src.width);
  } else {
    pr.cn = static_cast<size_t>(cn);
    pr.row_bytes = static_cast<size_t>(src.width) * cn;
    pr.out_c = static_cast<size_t>(oc);
    for (int c = 0; c < 3; c++) {
      pr.src_ch[c] = oc == 1 ? 0 : src_ch[c];
      pr.ks[c] = ks[c];
      pr.kb[c] = kb[c];
    }
    pr.qscale = qscale;
  }

  const int rw = li.resized_width, rh = li.resized_height;
  for (int x0 = 0; x0 < rw; x0 += static_cast<int>(kChunk)) {
    const size_t n = std::min(kChunk, static_cast<size_t>(rw - x0));
    if (is_nv) {
      x_table(src.width, rw, 1, x0, n, xofs, wx, true);
      x_table(src.width / 2, rw, 2, x0, n, cofs, cwx, true);
      nr.n = n;
      nr.fast = std::min(fast_pixels(xofs, n, 2, nr.y_bytes), fast_pixels(cofs, n, 4, nr.c_bytes));
      nr.yofs = xofs;
      nr.ywx = wx;
      nr.cofs = cofs;
      nr.cwx = cwx;
    } else {
      x_table(src.width, rw, cn, x0, n, xofs, wx, false);
      pr.n = n;
      pr.fast = fast_pixels(xofs, n, 8, pr.row_bytes);
      pr.xofs = xofs;
      pr.wx = wx;
    }
    for (int dy = 0; dy < rh; dy++) {
      int sy0, sy1;
      uint32_t wy;
      y_coord(src.height, rh, dy, &sy0, &sy1, &wy);
      const size_t o = static_cast<size_t>(dy + li.offset_y) * p.out_width + li.offset_x + x0;
      if (is_nv) {
        int cy0, cy1;
        uint32_t wc;
        y_coord(src.height / 2, rh, dy, &cy0, &cy1, &wc);
        nr.y0 = src.data + sy0 * src.stride;
        nr.y1 = src.data + sy1 * src.stride;
        nr.wy = wy;
        nr.c0 = src.uv + cy0 * src.uv_stride;
        nr.c1 = src.uv + cy1 * src.uv_stride;
        nr.wc = wc;
        for (int c = 0; c < 3; c++) nr.out[c] = dst + c * plane + o;
        nv12(nr, 0);
      } else {
        pr.row0 = src.data + sy0 * src.stride;
        pr.row1 = src.data + sy1 * src.stride;
        pr.wy = wy;
        for (int c = 0; c < oc; c++) pr.out[c] = dst + c * plane + o;
        packed(pr, 0);
      }
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
