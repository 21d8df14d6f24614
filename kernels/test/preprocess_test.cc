// Fused preprocessing: the dispatched variant against the scalar reference (int8 bit-exact,
// float within 1e-6 relative: the only difference allowed is FMA contraction), and the
// scalar reference against a naive double-precision bilinear (cv2 INTER_LINEAR coordinates)
// within 0.51 u8 LSB x |norm| for packed formats (8-bit vertical weights) and 1.7 LSB for
// NV12 (the same error through the BT.601 matrix).
#include <algorithm>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"

using sdk_kernels::PixelFormat;

namespace {

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

class PreprocessTester {
 public:
  PreprocessTester& format(PixelFormat f) { fmt_ = f; return *this; }
  PreprocessTester& src(int w, int h) { w_ = w; h_ = h; return *this; }
  PreprocessTester& extra_stride(int e) { extra_ = e; return *this; }
  PreprocessTester& out(int w, int h) { ow_ = w; oh_ = h; return *this; }
  PreprocessTester& letterbox(bool b) { lb_ = b; return *this; }
  PreprocessTester& rgb_out(bool b) { rgb_ = b; return *this; }
  PreprocessTester& seed(uint64_t s) { seed_ = s; return *this; }

  void test() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    const bool nv = fmt_ == PixelFormat::NV12 || fmt_ == PixelFormat::NV21;
    const int cn = sdk_kernels::pixel_format_channels(fmt_);
    const size_t stride = static_cast<size_t>(w_) * cn + extra_;
    const size_t uv_stride = static_cast<size_t>(w_) + extra_;
    std::vector<uint8_t> img(stride * h_), uv(nv ? uv_stride * (h_ / 2) : 0);
    for (auto& b : img) b = static_cast<uint8_t>(rng());
    for (auto& b : uv) b = static_cast<uint8_t>(rng());
    sdk_kernels::Image im{fmt_, img.data(), stride, nv ? uv.data() : nullptr, uv_stride, w_, h_};
    sdk_kernels::PreprocessParams p{};
    p.out_width = ow_;
    p.out_height = oh_;
    p.rgb_out = rgb_;
    const float mean[3] = {123.675f, 116.28f, 103.53f}, norm[3] = {0.01712475f, 0.017507f, 0.01742919f};
    for (int c = 0; c < 3; c++) { p.mean[c] = mean[c]; p.norm[c] = norm[c]; }
    p.letterbox = lb_;
    p.pad = 114;
    const int oc = sdk_kernels::preprocess_out_channels(im);
    const size_t total = static_cast<size_t>(oc) * ow_ * oh_;
    std::vector<float> ref(total, -1e9f), opt(total, -2e9f);
    std::vector<int8_t> qref(total, 99), qopt(total, -99);
    sdk_kernels::LetterboxInfo li{};
    sdk_kernels::force_scalar(true);
    CHECK(sdk_kernels::preprocess_f32(im, p, ref.data(), &li), "preprocess_f32 refused");
    sdk_kernels::preprocess_s8(im, p, 40.f, qref.data(), nullptr);
    sdk_kernels::force_scalar(false);
    sdk_kernels::preprocess_f32(im, p, opt.data(), nullptr);
    sdk_kernels::preprocess_s8(im, p, 40.f, qopt.data(), nullptr);
    const char* what = sdk_kernels::kernel_variant(
        nv ? sdk_kernels::Op::PreprocessNV12 : sdk_kernels::Op::PreprocessPacked);
    size_t bad = 0;
    for (size_t i = 0; i < total && bad < 3; i++) {
      const bool ok = std::fabs(ref[i] - opt[i]) <= 1e-6f * std::max(1.f, std::fabs(ref[i]));
      if (!CHECK(ok, "%s fmt=%d %dx%d+%d -> %dx%d lb=%d: f32[%zu] ref %.7g got %.7g", what,
                 int(fmt_), w_, h_, extra_, ow_, oh_, int(lb_), i, ref[i], opt[i])) bad++;
      if (!CHECK(qref[i] == qopt[i], "%s fmt=%d %dx%d -> %dx%d: s8[%zu] ref %d got %d", what,
                 int(fmt_), w_, h_, ow_, oh_, i, qref[i], qopt[i])) bad++;
    }
    // naive reference (double precision, no weight quantisation)
    const int rw = li.resized_width, rh = li.resized_height;
    const double tol = nv ? 1.7 : 0.51;
    for (int dy = 0; dy < oh_ && bad < 6; dy++) {
      for (int dx = 0; dx < ow_ && bad < 6; dx++) {
        const int x = dx - li.offset_x, y = dy - li.offset_y;
        double v[3];
        if (x < 0 || y < 0 || x >= rw || y >= rh) {
          for (int c = 0; c < 3; c++) v[c] = p.pad;
        } else if (!nv) {
          int x0, x1, y0, y1;
          const double fx = naive_coord(w_, rw, x, &x0, &x1), fy = naive_coord(h_, rh, y, &y0, &y1);
          for (int c = 0; c < oc; c++) {
            int sc = c;
            const bool src_rgb = fmt_ == PixelFormat::RGB || fmt_ == PixelFormat::RGBA;
            if (oc == 3 && src_rgb != rgb_) sc = 2 - c;
            auto at = [&](int yy, int xx) { return double(img[yy * stride + xx * cn + sc]); };
            v[c] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                   fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
          }
        } else {
          int x0, x1, y0, y1;
          double fx = naive_coord(w_, rw, x, &x0, &x1), fy = naive_coord(h_, rh, y, &y0, &y1);
          auto yat = [&](int yy, int xx) { return double(img[yy * stride + xx]); };
          const double Y = (1 - fy) * ((1 - fx) * yat(y0, x0) + fx * yat(y0, x1)) +
                           fy * ((1 - fx) * yat(y1, x0) + fx * yat(y1, x1));
          fx = naive_coord(w_ / 2, rw, x, &x0, &x1);
          fy = naive_coord(h_ / 2, rh, y, &y0, &y1);
          double ch[2];
          for (int k = 0; k < 2; k++) {
            auto cat = [&](int yy, int xx) { return double(uv[yy * uv_stride + 2 * xx + k]); };
            ch[k] = (1 - fy) * ((1 - fx) * cat(y0, x0) + fx * cat(y0, x1)) +
                    fy * ((1 - fx) * cat(y1, x0) + fx * cat(y1, x1));
          }
          const double U = (fmt_ == PixelFormat::NV12 ? ch[0] : ch[1]) - 128;
          const double V = (fmt_ == PixelFormat::NV12 ? ch[1] : ch[0]) - 128;
          const double yy = 1.164 * (Y - 16);
          const double rgb[3] = {yy + 1.596 * V, yy - 0.813 * V - 0.391 * U, yy + 2.018 * U};
          for (int c = 0; c < 3; c++)
            v[c] = std::min(255.0, std::max(0.0, rgb[rgb_ ? c : 2 - c]));
        }
        for (int c = 0; c < oc; c++) {
          const double want = (v[c] - mean[c]) * norm[c];
          const float got = ref[static_cast<size_t>(c) * ow_ * oh_ + dy * ow_ + dx];
          if (!CHECK(std::fabs(want - got) <= tol * norm[c] + 1e-5,
                     "scalar vs naive fmt=%d %dx%d -> %dx%d lb=%d at c%d (%d,%d): want %.6f got %.6f",
                     int(fmt_), w_, h_, ow_, oh_, int(lb_), c, dx, dy, want, got)) bad++;
        }
      }
    }
  }

 private:
  PixelFormat fmt_ = PixelFormat::BGR;
  int w_ = 17, h_ = 15, extra_ = 0, ow_ = 7, oh_ = 7;
  bool lb_ = false, rgb_ = true;
  uint64_t seed_ = 1;
};

const PixelFormat kPacked[] = {PixelFormat::BGR, PixelFormat::RGB, PixelFormat::RGBA,
                               PixelFormat::GRAY};

}  // namespace

TEST(packed_odd_sizes) {
  const int sizes[] = {1, 7, 15, 17, 223};
  const int outs[] = {1, 3, 4, 5, 8, 9, 17, 129};
  uint64_t k = 0;
  for (auto f : kPacked)
    for (int w : sizes)
      for (int ow : outs)
        PreprocessTester().format(f).src(w, (w * 3) % 29 + 1).out(ow, (ow * 5) % 13 + 1)
            .extra_stride(int(k % 3) * 5).rgb_out(k % 2).seed(ktest::seed_for(k++)).test();
}

TEST(packed_every_tail) {
  uint64_t k = 100;
  for (auto f : kPacked)
    for (int ow = 1; ow <= 12; ow++)
      PreprocessTester().format(f).src(31, 9).out(ow, 3).extra_stride(3).seed(ktest::seed_for(k++)).test();
}

TEST(packed_wide_1919) {
  uint64_t k = 200;
  for (auto f : kPacked) {
    PreprocessTester().format(f).src(1919, 7).out(224, 5).extra_stride(13).seed(ktest::seed_for(k++)).test();
    PreprocessTester().format(f).src(7, 1919).out(5, 224).seed(ktest::seed_for(k++)).test();
  }
  PreprocessTester().format(PixelFormat::BGR).src(1919, 223).out(224, 224).seed(ktest::seed_for(k++)).test();
}

TEST(packed_upscale_and_letterbox) {
  uint64_t k = 300;
  for (auto f : kPacked) {
    PreprocessTester().format(f).src(7, 15).out(223, 17).seed(ktest::seed_for(k++)).test();
    PreprocessTester().format(f).src(223, 17).out(64, 64).letterbox(true).seed(ktest::seed_for(k++)).test();
    PreprocessTester().format(f).src(15, 223).out(65, 63).letterbox(true).extra_stride(1)
        .seed(ktest::seed_for(k++)).test();
  }
}

TEST(nv12_nv21) {
  uint64_t k = 400;
  const int sizes[][2] = {{2, 2}, {8, 6}, {16, 14}, {18, 18}, {222, 30}, {1918, 8}};
  const int outs[] = {1, 4, 7, 15, 17, 224};
  for (auto f : {PixelFormat::NV12, PixelFormat::NV21})
    for (auto& s : sizes)
      for (int ow : outs)
        PreprocessTester().format(f).src(s[0], s[1]).out(ow, (ow * 3) % 11 + 1)
            .extra_stride(int(k % 2) * 6).rgb_out(k % 3 != 0).letterbox(k % 4 == 1)
            .seed(ktest::seed_for(k++)).test();
}

TEST(rejects_bad_arguments) {
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
}

TEST_MAIN()
