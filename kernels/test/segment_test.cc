// argmax over channels and DB binarisation, one case per micro-kernel variant (the tester
// takes the row micro-kernel and runs the real driver with it, see variants.h): every variant
// bit-exact against a naive loop, and the NEON variants against the scalar reference too.
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"
#include "variants.h"

namespace {

using ArgmaxFn = void (*)(const float*, size_t, size_t, size_t, uint8_t*, size_t);
using BinarizeFn = void (*)(const float*, size_t, float, uint8_t*, size_t);
using ktest::Dispatch;

class SegmentTester {
 public:
  SegmentTester& size(size_t w, size_t h) { w_ = w; h_ = h; return *this; }
  SegmentTester& channels(size_t c) { c_ = c; return *this; }
  SegmentTester& extra_stride(size_t e) { extra_ = e; return *this; }
  SegmentTester& seed(uint64_t s) { seed_ = s; return *this; }

  void test_argmax(ArgmaxFn argmax) const {
    const ArgmaxFn scalar = sdk_kernels::internal::f32_argmax_chw_u8__scalar;
    const std::vector<float> x = input();
    std::vector<uint8_t> ref(ls() * h_, 7), opt(ls() * h_, 7);
    run_argmax(argmax, x, opt);
    if (argmax != scalar) run_argmax(scalar, x, ref);
    int bad = 0;
    for (size_t y = 0; y < h_; y++)
      for (size_t i = 0; i < ls() && bad < 3; i++) {
        uint8_t want = 7;
        if (i < w_) {
          float b = x[y * rs() + i];
          want = 0;
          for (size_t c = 1; c < c_; c++)
            if (x[c * ps() + y * rs() + i] > b) { b = x[c * ps() + y * rs() + i]; want = uint8_t(c); }
        }
        const size_t o = y * ls() + i;
        if (!CHECK(opt[o] == want && (argmax == scalar || ref[o] == want),
                   "%s %zux%zu c=%zu (%zu,%zu): want %d scalar %d got %d",
                   ktest::current_case().c_str(), w_, h_, c_, i, y, want,
                   argmax == scalar ? opt[o] : ref[o], opt[o])) bad++;
      }
  }

  void test_binarize(BinarizeFn binarize) const {
    const BinarizeFn scalar = sdk_kernels::internal::f32_binarize_u8__scalar;
    const std::vector<float> x = input();
    std::vector<uint8_t> mr(ls() * h_, 7), mo(ls() * h_, 7);
    run_binarize(binarize, x, mo);
    if (binarize != scalar) run_binarize(scalar, x, mr);
    int bad = 0;
    for (size_t y = 0; y < h_; y++)
      for (size_t i = 0; i < ls() && bad < 3; i++) {
        const uint8_t want = i < w_ ? (x[y * rs() + i] > 0.3f ? 255 : 0) : 7;
        const size_t o = y * ls() + i;
        if (!CHECK(mo[o] == want && (binarize == scalar || mr[o] == want), "%s %zux%zu (%zu,%zu)",
                   ktest::current_case().c_str(), w_, h_, i, y)) bad++;
      }
  }

 private:
  size_t rs() const { return w_ + extra_; }
  size_t ps() const { return rs() * h_ + 3; }
  size_t ls() const { return w_ + extra_ * 2; }
  std::vector<float> input() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    std::vector<float> x(ps() * c_);
    for (auto& v : x) v = float(rng() % 16) / 16.f;  // many ties
    return x;
  }
  void run_argmax(ArgmaxFn fn, const std::vector<float>& x, std::vector<uint8_t>& out) const {
    ktest::UseKernels use(&Dispatch::argmax, fn);
    sdk_kernels::argmax_chw_u8(x.data(), c_, h_, w_, rs(), ps(), out.data(), ls());
  }
  void run_binarize(BinarizeFn fn, const std::vector<float>& x, std::vector<uint8_t>& out) const {
    ktest::UseKernels use(&Dispatch::binarize, fn);
    sdk_kernels::binarize_f32_u8(x.data(), h_, w_, rs(), 0.3f, out.data(), ls());
  }

  size_t w_ = 7, h_ = 3, c_ = 3, extra_ = 0;
  uint64_t seed_ = 1;
};

template <typename Fn, typename Test>
void sweep(Fn fn, Test test) {
  uint64_t s = 0;
  for (size_t w : {1, 3, 4, 7, 8, 15, 16, 17, 31, 223, 1919})
    for (size_t c : {1, 2, 19})
      (SegmentTester().size(w, w > 200 ? 3 : 5).channels(c).extra_stride(s % 3)
           .seed(ktest::seed_for(s++)).*test)(fn);
}

void argmax_sizes(ArgmaxFn fn) { sweep(fn, &SegmentTester::test_argmax); }
void binarize_sizes(BinarizeFn fn) { sweep(fn, &SegmentTester::test_binarize); }

}  // namespace

KERNEL_TEST(f32_argmax_chw_u8__scalar, sizes, argmax_sizes);
KERNEL_TEST(f32_binarize_u8__scalar, sizes, binarize_sizes);
#if defined(SDK_KERNELS_HAVE_NEON)
NEON_KERNEL_TEST(f32_argmax_chw_u8__neon, sizes, argmax_sizes);
NEON_KERNEL_TEST(f32_binarize_u8__neon, sizes, binarize_sizes);
#endif

DISPATCH_PICK_TEST(sdk_kernels::Op::Argmax, "f32_argmax_chw_u8", KTEST_SLOT(argmax, f32_argmax_chw_u8));
DISPATCH_PICK_TEST(sdk_kernels::Op::Binarize, "f32_binarize_u8", KTEST_SLOT(binarize, f32_binarize_u8));

TEST_MAIN()
