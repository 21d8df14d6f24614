// Fused preprocessing, one case per micro-kernel variant: the tester takes the micro-kernel and
// runs the real driver (tables, letterbox, row loop) with it, see variants.h.
//   *__scalar (f32)  packed formats: vs a naive double bilinear (cv2 INTER_LINEAR coordinates)
//                    within 0.513 u8 LSB x |norm| (8-bit vertical weights); NV12/NV21: vs an
//                    independent float64 model of OpenCV's cvtColor + resize (nv12_model
//                    below, limited and full range) within the bound derived there.
//   *__neon (f32)    bit-exact vs the scalar reference (same integer path, same FMA); NV12/NV21
//                    also vs the float64 model, same bound.
//                    NV12/NV21 cases: nv12_nv21 (random bytes) and extremes (bytes 0 or 255,
//                    where the weight rounding errors are largest).
//   *_s8__scalar     bit-exact: ncnn's rounding (kernels.h) of the scalar float output.
//   *_s8__neon       bit-exact vs the scalar s8 reference.
#include <algorithm>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"
#include "variants.h"

using sdk_kernels::PixelFormat;

namespace {

namespace ki = sdk_kernels::internal;
using ki::Nv12Fn;
using ki::PackedFn;
using ktest::Dispatch;

constexpr float kQScale = 40.f;  // int8 input scale of the s8 cases

double naive_coord(int size, int dst, int d, int* i0, int* i1) {
  const double scale = static_cast<double>(size) / dst;
  double f = (d + 0.5) * scale - 0.5;
  int s = static_cast<int>(std::floor(static_cast<float>(f)));
  f = static_cast<float>(f) - s;
  if (s < 0) { s = 0; f = 0; }
  if (s >= size - 1) { s = size - 1; f = 0; }
  *i0 = s;
  *i1 = std::min(s + 1, size - 1);
  return f;
}

// ------------------------------------------------------------------------------------------
// NV12/NV21: a float64 model of what OpenCV computes (cvtColor COLOR_YUV2RGB_NV12, then resize
// INTER_LINEAR), written from OpenCV's documented behaviour and not from the kernel: no fixed
// point, no float coordinates, nothing from internal.h. Each source pixel takes the chroma of
// its 2x2 block, is converted with OpenCV's BT.601 limited-range coefficients
// (Y' = max(Y - 16, 0)) or the BT.601 full-range ones, and clamped to [0, 255]; then the
// converted image is resized bilinearly (cv2 INTER_LINEAR positions: half-pixel centres,
// clamped at the edges), then (x - mean) * norm; letterbox pad outside.
//
// Tolerance of the kernel (any variant) against the model, u8 LSB (internal.h):
//   each tap rounded to u8 after the conversion (as OpenCV rounds):     0.5
//   the fixed-point conversion (qrdmulh rounding <= 3 x 0.5 / 64 = 0.023, coefficients
//   rounded to 2^-14 (CUB 2^-13): <= 239 / 32768 + 2 x 128 / 32768 = 0.015)  0.04
//   vertical weight round(fy * 2^8):      |dwy| <= 2^-9      x 255         0.4980
//   horizontal weight round(fx * 2^15):   |dwx| <= 2^-16     x 255         0.0039
//   qrdmulh rounding of the horizontal blend, h in [H - 1, H + 2] / 256    0.0078
//   positions rounded to float (as cv2): 2 x 255 x 2^-14 (sources < 2048 px) 0.0311
//   float rounding (the folded constants, one FMA)                        0.002
// = 1.083; the bound is 1.09 LSB x |norm| for every colour. It fails on the old model
// (chroma interpolated on the half-resolution plane, clamp after the blend): 9-61 LSB at
// colour edges of real photos (tests/kernels/test_preprocess.py checks those against OpenCV).
namespace nv12_model {

// OpenCV's coefficients (modules/imgproc/src/color_yuv.simd.hpp, ITUR_BT_601_* / 2^20), and
// the BT.601 full-range (JFIF) ones: CY, CVR, CUG, CVG, CUB.
constexpr double kLimited[5] = {1220542 / 1048576.0, 1673527 / 1048576.0, -409993 / 1048576.0,
                                -852492 / 1048576.0, 2116026 / 1048576.0};
constexpr double kFull[5] = {1.0, 1.402, -0.344136, -0.714136, 1.772};
constexpr double kTol = 1.09;
constexpr double kTolRgb[3] = {kTol, kTol, kTol};
constexpr int kMaxSide = 2048;  // the position term above

// value = (1 - f) * s[i0] + f * s[i1] along one axis: `src` samples resized to `dst`.
struct Tap {
  int i0, i1;
  double f;
};
Tap tap(int src, int dst, int d) {
  const double s = (d + 0.5) * src / dst - 0.5;
  if (s <= 0) return {0, 0, 0.0};
  const int i = static_cast<int>(std::floor(s));
  if (i >= src - 1) return {src - 1, src - 1, 0.0};
  return {i, i + 1, s - i};
}

// OpenCV's conversion of source pixel (x, y), float64, clamped: R, G, B.
void pixel_rgb(const sdk_kernels::Image& im, bool full, int x, int y, double out[3]) {
  const double* k = full ? kFull : kLimited;
  const uint8_t* pair = im.uv + (y / 2) * im.uv_stride + (x / 2) * 2;
  const bool nv21 = im.format == PixelFormat::NV21;  // chroma pairs are V U instead of U V
  const double u = pair[nv21 ? 1 : 0] - 128.0, v = pair[nv21 ? 0 : 1] - 128.0;
  const double luma = im.data[y * im.stride + x];
  const double l = k[0] * (full ? luma : std::max(0.0, luma - 16));
  const double c[3] = {l + k[1] * v, l + k[2] * u + k[3] * v, l + k[4] * u};
  for (int j = 0; j < 3; j++) out[j] = std::min(255.0, std::max(0.0, c[j]));
}

// R, G, B of pixel (x, y) of the resized region (rw x rh), u8 units: the bilinear resize of
// the converted image.
void rgb(const sdk_kernels::Image& im, bool full, int rw, int rh, int x, int y, double out[3]) {
  const Tap tx = tap(im.width, rw, x), ty = tap(im.height, rh, y);
  double a[3], b[3], c[3], d[3];
  pixel_rgb(im, full, tx.i0, ty.i0, a);
  pixel_rgb(im, full, tx.i1, ty.i0, b);
  pixel_rgb(im, full, tx.i0, ty.i1, c);
  pixel_rgb(im, full, tx.i1, ty.i1, d);
  for (int j = 0; j < 3; j++)
    out[j] = (1 - ty.f) * ((1 - tx.f) * a[j] + tx.f * b[j]) + ty.f * ((1 - tx.f) * c[j] + tx.f * d[j]);
}

// Worst |kernel - model| / |norm| (u8 LSB) per colour R, G, B, over the running case.
double g_worst[3];
void reset_worst() { g_worst[0] = g_worst[1] = g_worst[2] = 0; }
void print_worst() {
  std::printf("     %s vs float64 model: worst R %.3f G %.3f B %.3f LSB (bound %.3f %.3f %.3f)\n",
              ktest::current_case().c_str(), g_worst[0], g_worst[1], g_worst[2], kTolRgb[0],
              kTolRgb[1], kTolRgb[2]);
}

}  // namespace nv12_model

const float kMean[3] = {123.675f, 116.28f, 103.53f}, kNorm[3] = {0.01712475f, 0.017507f, 0.01742919f};

class PreprocessTester {
 public:
  PreprocessTester& format(PixelFormat f) { fmt_ = f; return *this; }
  PreprocessTester& src(int w, int h) { w_ = w; h_ = h; return *this; }
  PreprocessTester& extra_stride(int e) { extra_ = e; return *this; }
  PreprocessTester& out(int w, int h) { ow_ = w; oh_ = h; return *this; }
  PreprocessTester& letterbox(bool b) { lb_ = b; return *this; }
  PreprocessTester& rgb_out(bool b) { rgb_ = b; return *this; }
  PreprocessTester& seed(uint64_t s) { seed_ = s; return *this; }
  // Every source byte 0 or 255: neighbour differences of 255, where the weight rounding errors
  // are largest.
  PreprocessTester& extremes(bool b) { extremes_ = b; return *this; }
  PreprocessTester& full_range(bool b) { full_ = b; return *this; }

  // kS8: the micro-kernel writes int8 (preprocess_s8) rather than float (preprocess_f32).
  template <bool kS8>
  void test(PackedFn fn) const {
    CHECK(!nv(), "a packed micro-kernel given an NV12/NV21 case");
    if (kS8) check_s8(fn, &Dispatch::packed_s8, ki::u8_resize_bilinear_normalize_chw_s8__scalar);
    else check_f32(fn, &Dispatch::packed_f32, ki::u8_resize_bilinear_normalize_chw__scalar);
  }
  template <bool kS8>
  void test(Nv12Fn fn) const {
    CHECK(nv(), "an NV12 micro-kernel given a packed case");
    if (kS8) check_s8(fn, &Dispatch::nv12_s8, ki::nv12_resize_bilinear_normalize_chw_s8__scalar);
    else check_f32(fn, &Dispatch::nv12_f32, ki::nv12_resize_bilinear_normalize_chw__scalar);
  }

 private:
  struct Input {
    std::vector<uint8_t> img, uv;
    sdk_kernels::Image im;
    sdk_kernels::PreprocessParams p;
    int oc;
    size_t total;
  };

  bool nv() const { return fmt_ == PixelFormat::NV12 || fmt_ == PixelFormat::NV21; }

  Input input() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    Input in;
    const int cn = sdk_kernels::pixel_format_channels(fmt_);
    const size_t stride = static_cast<size_t>(w_) * cn + extra_;
    const size_t uv_stride = static_cast<size_t>(w_) + extra_;
    in.img.resize(stride * h_);
    in.uv.resize(nv() ? uv_stride * (h_ / 2) : 0);
    const uint8_t mask = extremes_ ? 1 : 255, scale = extremes_ ? 255 : 1;
    for (auto& b : in.img) b = static_cast<uint8_t>((rng() & mask) * scale);
    for (auto& b : in.uv) b = static_cast<uint8_t>((rng() & mask) * scale);
    in.im = {fmt_, in.img.data(), stride, nv() ? in.uv.data() : nullptr, uv_stride, w_, h_};
    in.p = {};
    in.p.out_width = ow_;
    in.p.out_height = oh_;
    in.p.rgb_out = rgb_;
    for (int c = 0; c < 3; c++) { in.p.mean[c] = kMean[c]; in.p.norm[c] = kNorm[c]; }
    in.p.letterbox = lb_;
    in.p.pad = 114;
    in.p.yuv_full_range = full_;
    in.oc = sdk_kernels::preprocess_out_channels(in.im);
    in.total = static_cast<size_t>(in.oc) * ow_ * oh_;
    return in;
  }

  // The real driver with `fn` in `slot` (every other slot the scalar reference).
  template <typename T, typename Fn>
  std::vector<T> run(const Input& in, Fn Dispatch::*slot, Fn fn, T fill,
                     sdk_kernels::LetterboxInfo* li) const {
    std::vector<T> out(in.total, fill);
    ktest::UseKernels use(slot, fn);
    bool ok;
    if constexpr (sizeof(T) == 1) ok = sdk_kernels::preprocess_s8(in.im, in.p, kQScale, out.data(), li);
    else ok = sdk_kernels::preprocess_f32(in.im, in.p, out.data(), li);
    CHECK(ok, "preprocess refused fmt=%d %dx%d -> %dx%d", int(fmt_), w_, h_, ow_, oh_);
    return out;
  }

  // The scalar references of this sub-case.
  struct F32Ref {
    std::vector<float> out;
    sdk_kernels::LetterboxInfo li;
  };
  F32Ref scalar_f32(const Input& in) const {
    F32Ref r{};
    r.out = nv() ? run<float>(in, &Dispatch::nv12_f32, ki::nv12_resize_bilinear_normalize_chw__scalar, -1e9f, &r.li)
                 : run<float>(in, &Dispatch::packed_f32, ki::u8_resize_bilinear_normalize_chw__scalar, -1e9f, &r.li);
    return r;
  }
  std::vector<int8_t> scalar_s8(const Input& in) const {
    return nv() ? run<int8_t>(in, &Dispatch::nv12_s8, ki::nv12_resize_bilinear_normalize_chw_s8__scalar, int8_t(99), nullptr)
                : run<int8_t>(in, &Dispatch::packed_s8, ki::u8_resize_bilinear_normalize_chw_s8__scalar, int8_t(99), nullptr);
  }

  template <typename Fn>
  void check_f32(Fn fn, Fn Dispatch::*slot, Fn scalar) const {
    const Input in = input();
    const F32Ref ref = scalar_f32(in);
    sdk_kernels::LetterboxInfo li = ref.li;
    std::vector<float> opt;
    size_t bad = 0;
    if (fn != scalar) {
      opt = run<float>(in, slot, fn, -2e9f, &li);
      for (size_t i = 0; i < in.total && bad < 3; i++) {
        const bool ok = ref.out[i] == opt[i];  // bit-exact (same integer path, same FMA)
        if (!CHECK(ok, "%s fmt=%d %dx%d+%d -> %dx%d lb=%d: f32[%zu] ref %.7g got %.7g",
                   ktest::current_case().c_str(), int(fmt_), w_, h_, extra_, ow_, oh_, int(lb_), i,
                   ref.out[i], opt[i])) bad++;
      }
    }
    const std::vector<float>& got = fn != scalar ? opt : ref.out;
    if (nv()) check_nv12_model(in, li, got);
    else if (fn == scalar) check_naive_packed(in, li, got);
  }

  template <typename Fn>
  void check_s8(Fn fn, Fn Dispatch::*slot, Fn scalar) const {
    const Input in = input();
    std::vector<int8_t> opt = fn != scalar ? run<int8_t>(in, slot, fn, int8_t(-99), nullptr) : scalar_s8(in);
    std::vector<int8_t> want;
    const char* against;
    if (fn != scalar) {
      want = scalar_s8(in);
      against = "scalar s8";
    } else {  // the documented rounding (kernels.h) of the scalar float output
      const std::vector<float> f = scalar_f32(in).out;
      want.resize(in.total);
      for (size_t i = 0; i < in.total; i++) {
        const float q = f[i] * kQScale;
        const float r = std::trunc(q + std::copysign(0.5f, q));
        want[i] = static_cast<int8_t>(std::min(127.f, std::max(-127.f, r)));
      }
      against = "round(f32 scalar x scale)";
    }
    size_t bad = 0;
    for (size_t i = 0; i < in.total && bad < 3; i++)
      if (!CHECK(want[i] == opt[i], "%s fmt=%d %dx%d -> %dx%d: s8[%zu] %s %d got %d",
                 ktest::current_case().c_str(), int(fmt_), w_, h_, ow_, oh_, i, against, want[i],
                 opt[i])) bad++;
  }

  // Packed formats: naive bilinear in double, no weight quantisation.
  void check_naive_packed(const Input& in, const sdk_kernels::LetterboxInfo& li,
                          const std::vector<float>& got) const {
    const int rw = li.resized_width, rh = li.resized_height, cn = sdk_kernels::pixel_format_channels(fmt_);
    // vertical weight 0.498 + horizontal weight 0.0039 + qrdmulh rounding 0.0078 + float
    const double tol = 0.513;
    int bad = 0;
    for (int dy = 0; dy < oh_ && bad < 3; dy++) {
      for (int dx = 0; dx < ow_ && bad < 3; dx++) {
        const int x = dx - li.offset_x, y = dy - li.offset_y;
        double v[3];
        if (x < 0 || y < 0 || x >= rw || y >= rh) {
          for (int c = 0; c < 3; c++) v[c] = in.p.pad;
        } else {
          int x0, x1, y0, y1;
          const double fx = naive_coord(w_, rw, x, &x0, &x1), fy = naive_coord(h_, rh, y, &y0, &y1);
          for (int c = 0; c < in.oc; c++) {
            int sc = c;
            const bool src_rgb = fmt_ == PixelFormat::RGB || fmt_ == PixelFormat::RGBA;
            if (in.oc == 3 && src_rgb != rgb_) sc = 2 - c;
            auto at = [&](int yy, int xx) { return double(in.img[yy * in.im.stride + xx * cn + sc]); };
            v[c] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                   fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
          }
        }
        for (int c = 0; c < in.oc; c++) {
          const double want = (v[c] - kMean[c]) * kNorm[c];
          const float g = got[static_cast<size_t>(c) * ow_ * oh_ + dy * ow_ + dx];
          if (!CHECK(std::fabs(want - g) <= tol * kNorm[c] + 1e-5,
                     "naive fmt=%d %dx%d -> %dx%d lb=%d at c%d (%d,%d): want %.6f got %.6f",
                     int(fmt_), w_, h_, ow_, oh_, int(lb_), c, dx, dy, want, g)) bad++;
        }
      }
    }
  }

  void check_nv12_model(const Input& in, const sdk_kernels::LetterboxInfo& li,
                        const std::vector<float>& got) const {
    using namespace nv12_model;
    CHECK(w_ < kMaxSide && h_ < kMaxSide, "the bound assumes sources below %d px", kMaxSide);
    const int rw = li.resized_width, rh = li.resized_height;
    int bad = 0;
    for (int dy = 0; dy < oh_; dy++) {
      for (int dx = 0; dx < ow_; dx++) {
        const int x = dx - li.offset_x, y = dy - li.offset_y;
        double v[3] = {double(in.p.pad), double(in.p.pad), double(in.p.pad)};  // R, G, B
        if (x >= 0 && y >= 0 && x < rw && y < rh) rgb(in.im, full_, rw, rh, x, y, v);
        for (int c = 0; c < 3; c++) {
          const int k = rgb_ ? c : 2 - c;  // colour of output channel c
          const double want = (v[k] - kMean[c]) * kNorm[c];
          const float g = got[static_cast<size_t>(c) * ow_ * oh_ + dy * ow_ + dx];
          const double err = std::fabs(want - g) / kNorm[c];
          g_worst[k] = std::max(g_worst[k], err);
          if (bad < 3 && !CHECK(err <= kTolRgb[k],
                                "%s vs float64 model: fmt=%d %dx%d+%d -> %dx%d lb=%d rgb=%d at c%d "
                                "(%d,%d): want %.6f got %.6f, error %.3f LSB > %.3f",
                                ktest::current_case().c_str(), int(fmt_), w_, h_, extra_, ow_, oh_,
                                int(lb_), int(rgb_), c, dx, dy, want, g, err, kTolRgb[k])) bad++;
        }
      }
    }
  }

  PixelFormat fmt_ = PixelFormat::BGR;
  int w_ = 17, h_ = 15, extra_ = 0, ow_ = 7, oh_ = 7;
  bool lb_ = false, rgb_ = true, extremes_ = false, full_ = false;
  uint64_t seed_ = 1;
};

const PixelFormat kPacked[] = {PixelFormat::BGR, PixelFormat::RGB, PixelFormat::RGBA,
                               PixelFormat::GRAY};

// ------------------------------------------------------------------ cases (one sweep each)

template <bool kS8>
void packed_odd_sizes(PackedFn fn) {
  const int sizes[] = {1, 7, 15, 17, 223};
  const int outs[] = {1, 3, 4, 5, 8, 9, 17, 129};
  uint64_t k = 0;
  for (auto f : kPacked)
    for (int w : sizes)
      for (int ow : outs)
        PreprocessTester().format(f).src(w, (w * 3) % 29 + 1).out(ow, (ow * 5) % 13 + 1)
            .extra_stride(int(k % 3) * 5).rgb_out(k % 2).seed(ktest::seed_for(k++)).test<kS8>(fn);
}

template <bool kS8>
void packed_every_tail(PackedFn fn) {
  uint64_t k = 100;
  for (auto f : kPacked)
    for (int ow = 1; ow <= 12; ow++)
      PreprocessTester().format(f).src(31, 9).out(ow, 3).extra_stride(3).seed(ktest::seed_for(k++))
          .test<kS8>(fn);
}

template <bool kS8>
void packed_wide_1919(PackedFn fn) {
  uint64_t k = 200;
  for (auto f : kPacked) {
    PreprocessTester().format(f).src(1919, 7).out(224, 5).extra_stride(13).seed(ktest::seed_for(k++))
        .test<kS8>(fn);
    PreprocessTester().format(f).src(7, 1919).out(5, 224).seed(ktest::seed_for(k++)).test<kS8>(fn);
  }
  PreprocessTester().format(PixelFormat::BGR).src(1919, 223).out(224, 224).seed(ktest::seed_for(k++))
      .test<kS8>(fn);
}

// The driver hands the packed micro-kernel batches of up to 64 rows; the NEON BGR/RGB loop
// runs two rows per iteration: odd batch ends, several batches, weight-0 rows (the clamped
// top and bottom of an upscale), a tail after the blocks, both channel orders.
template <bool kS8>
void packed_row_batches(PackedFn fn) {
  uint64_t k = 250;
  for (auto f : {PixelFormat::BGR, PixelFormat::RGB})
    for (bool rgb : {true, false}) {
      PreprocessTester().format(f).src(300, 200).out(45, 129).rgb_out(rgb).seed(ktest::seed_for(k++))
          .template test<kS8>(fn);
      PreprocessTester().format(f).src(40, 30).out(64, 131).extra_stride(7).rgb_out(rgb)
          .seed(ktest::seed_for(k++)).template test<kS8>(fn);
    }
}

template <bool kS8>
void packed_upscale_and_letterbox(PackedFn fn) {
  uint64_t k = 300;
  for (auto f : kPacked) {
    PreprocessTester().format(f).src(7, 15).out(223, 17).seed(ktest::seed_for(k++)).test<kS8>(fn);
    PreprocessTester().format(f).src(223, 17).out(64, 64).letterbox(true).seed(ktest::seed_for(k++))
        .test<kS8>(fn);
    PreprocessTester().format(f).src(15, 223).out(65, 63).letterbox(true).extra_stride(1)
        .seed(ktest::seed_for(k++)).test<kS8>(fn);
  }
}

template <bool kS8>
void nv12_nv21(Nv12Fn fn) {
  nv12_model::reset_worst();
  uint64_t k = 400;
  const int sizes[][2] = {{2, 2}, {8, 6}, {16, 14}, {18, 18}, {222, 30}, {1918, 8}};
  const int outs[] = {1, 4, 7, 15, 17, 224};
  for (auto f : {PixelFormat::NV12, PixelFormat::NV21})
    for (auto& s : sizes)
      for (int ow : outs)
        PreprocessTester().format(f).src(s[0], s[1]).out(ow, (ow * 3) % 11 + 1)
            .extra_stride(int(k % 2) * 6).rgb_out(k % 3 != 0).letterbox(k % 4 == 1).full_range(k % 5 == 2)
            .seed(ktest::seed_for(k++)).template test<kS8>(fn);
  if (!kS8) nv12_model::print_worst();
}

template <bool kS8>
void nv12_extremes(Nv12Fn fn) {
  nv12_model::reset_worst();
  uint64_t k = 500;
  const int sizes[][2] = {{16, 14}, {222, 30}, {1918, 8}};
  const int outs[] = {7, 17, 33};
  for (auto f : {PixelFormat::NV12, PixelFormat::NV21})
    for (auto& s : sizes)
      for (int ow : outs) {
        const bool rgb = k % 2;
        PreprocessTester().format(f).src(s[0], s[1]).out(ow, ow / 2 + 3).extremes(true)
            .rgb_out(rgb).full_range(k % 3 == 0).seed(ktest::seed_for(k++)).template test<kS8>(fn);
      }
  if (!kS8) nv12_model::print_worst();
}

}  // namespace

// Every case once per variant; kernel name and function pointer from one token (variants.h).
#define PACKED_CASES(REGISTER, kernel, kS8)                                          \
  REGISTER(kernel, odd_sizes, packed_odd_sizes<kS8>);                               \
  REGISTER(kernel, every_tail, packed_every_tail<kS8>);                             \
  REGISTER(kernel, wide_1919, packed_wide_1919<kS8>);                               \
  REGISTER(kernel, row_batches, packed_row_batches<kS8>);                           \
  REGISTER(kernel, upscale_and_letterbox, packed_upscale_and_letterbox<kS8>)

PACKED_CASES(KERNEL_TEST, u8_resize_bilinear_normalize_chw__scalar, false);
PACKED_CASES(KERNEL_TEST, u8_resize_bilinear_normalize_chw_s8__scalar, true);
KERNEL_TEST(nv12_resize_bilinear_normalize_chw__scalar, nv12_nv21, nv12_nv21<false>);
KERNEL_TEST(nv12_resize_bilinear_normalize_chw_s8__scalar, nv12_nv21, nv12_nv21<true>);
KERNEL_TEST(nv12_resize_bilinear_normalize_chw__scalar, extremes, nv12_extremes<false>);
KERNEL_TEST(nv12_resize_bilinear_normalize_chw_s8__scalar, extremes, nv12_extremes<true>);
#if defined(SDK_KERNELS_HAVE_NEON)
PACKED_CASES(NEON_KERNEL_TEST, u8_resize_bilinear_normalize_chw__neon, false);
PACKED_CASES(NEON_KERNEL_TEST, u8_resize_bilinear_normalize_chw_s8__neon, true);
NEON_KERNEL_TEST(nv12_resize_bilinear_normalize_chw__neon, nv12_nv21, nv12_nv21<false>);
NEON_KERNEL_TEST(nv12_resize_bilinear_normalize_chw_s8__neon, nv12_nv21, nv12_nv21<true>);
NEON_KERNEL_TEST(nv12_resize_bilinear_normalize_chw__neon, extremes, nv12_extremes<false>);
NEON_KERNEL_TEST(nv12_resize_bilinear_normalize_chw_s8__neon, extremes, nv12_extremes<true>);
#endif

DISPATCH_PICK_TEST(sdk_kernels::Op::PreprocessPacked, "u8_resize_bilinear_normalize_chw",
                   KTEST_SLOT(packed_f32, u8_resize_bilinear_normalize_chw),
                   KTEST_SLOT(packed_s8, u8_resize_bilinear_normalize_chw_s8));
DISPATCH_PICK_TEST(sdk_kernels::Op::PreprocessNV12, "nv12_resize_bilinear_normalize_chw",
                   KTEST_SLOT(nv12_f32, nv12_resize_bilinear_normalize_chw),
                   KTEST_SLOT(nv12_s8, nv12_resize_bilinear_normalize_chw_s8));

// The driver's argument checks (no micro-kernel runs).
static ktest::Reg reg_rejects("preprocess_f32.rejects_bad_arguments", [] {
  std::vector<uint8_t> img(64);
  float out[64];
  sdk_kernels::Image im{PixelFormat::BGR, img.data(), 5, nullptr, 0, 2, 2};  // stride < 6
  sdk_kernels::PreprocessParams p{};
  p.out_width = p.out_height = 2;
  p.norm[0] = p.norm[1] = p.norm[2] = 1;
  CHECK(!sdk_kernels::preprocess_f32(im, p, out, nullptr), "accepted stride < width*3");
  im.stride = 6;
  CHECK(sdk_kernels::preprocess_f32(im, p, out, nullptr), "refused a valid image");
  im.format = PixelFormat::NV12;
  im.width = 3;
  CHECK(!sdk_kernels::preprocess_f32(im, p, out, nullptr), "accepted odd NV12");
});

TEST_MAIN()
