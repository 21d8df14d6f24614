// softmax and top-k, one case per micro-kernel variant (the tester takes the micro-kernel and
// runs the real driver with it, see variants.h):
//   f32_softmax__scalar  vs naive double softmax within 1e-6 absolute + 1e-5 relative
//   f32_softmax__neon    vs the scalar reference within 2e-6 absolute + 1e-5 relative
//                        (polynomial exp)
//   f32_topk__*          bit-exact vs a naive stable sort; NEON also vs the scalar reference
#include <algorithm>
#include <numeric>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"
#include "variants.h"

namespace {

using SoftmaxFn = void (*)(const float*, size_t, float*);
using TopkFn = size_t (*)(const float*, size_t, size_t, int32_t*, float*);
using ktest::Dispatch;

class SoftmaxTester {
 public:
  SoftmaxTester& n(size_t v) { n_ = v; return *this; }
  SoftmaxTester& k(size_t v) { k_ = v; return *this; }
  SoftmaxTester& ties(bool v) { ties_ = v; return *this; }
  SoftmaxTester& seed(uint64_t s) { seed_ = s; return *this; }

  void test_softmax(SoftmaxFn softmax) const {
    const SoftmaxFn scalar = sdk_kernels::internal::f32_softmax__scalar;
    const std::vector<float> x = input();
    std::vector<float> ref(n_), opt(n_);
    run_softmax(scalar, x, ref);
    if (softmax != scalar) run_softmax(softmax, x, opt);
    double mx = *std::max_element(x.begin(), x.end()), s = 0;
    for (float v : x) s += std::exp(double(v) - mx);
    int bad = 0;
    for (size_t i = 0; i < n_ && bad < 3; i++) {
      if (softmax == scalar) {
        const double want = std::exp(double(x[i]) - mx) / s;
        if (!CHECK(std::fabs(want - ref[i]) <= 1e-6 + 1e-5 * want,
                   "f32_softmax__scalar n=%zu [%zu] want %.9g got %.9g", n_, i, want, ref[i])) bad++;
      } else if (!CHECK(std::fabs(opt[i] - ref[i]) <= 2e-6 + 1e-5 * ref[i],
                        "%s n=%zu [%zu] ref %.9g got %.9g", ktest::current_case().c_str(), n_, i,
                        ref[i], opt[i])) {
        bad++;
      }
    }
  }

  void test_topk(TopkFn topk) const {
    const TopkFn scalar = sdk_kernels::internal::f32_topk__scalar;
    const std::vector<float> x = input();
    std::vector<int32_t> ri(k_ + 1, -7), oi(k_ + 1, -7);
    std::vector<float> rv(k_ + 1), ov(k_ + 1);
    const size_t on = run_topk(topk, x, oi, ov);
    std::vector<int32_t> order(n_);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
    const size_t kk = std::min(k_, n_);
    const char* what = ktest::current_case().c_str();
    CHECK(on == kk, "%s count n=%zu k=%zu: want %zu got %zu", what, n_, k_, kk, on);
    for (size_t j = 0; j < kk; j++)
      CHECK(oi[j] == order[j] && ov[j] == x[order[j]], "%s n=%zu k=%zu [%zu] want %d got %d", what,
            n_, k_, j, order[j], oi[j]);
    if (topk != scalar) {  // and against the scalar reference, bit for bit
      const size_t rn = run_topk(scalar, x, ri, rv);
      CHECK(rn == on, "%s n=%zu k=%zu: scalar %zu, got %zu", what, n_, k_, rn, on);
      for (size_t j = 0; j < std::min(rn, on); j++)
        CHECK(ri[j] == oi[j] && rv[j] == ov[j], "%s n=%zu k=%zu [%zu] scalar %d got %d", what, n_,
              k_, j, ri[j], oi[j]);
    }
  }

 private:
  std::vector<float> input() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    std::uniform_real_distribution<float> d(-20.f, 20.f);
    std::vector<float> x(n_);
    for (auto& v : x) v = ties_ ? float(int(d(rng)) / 4) : d(rng);
    return x;
  }
  void run_softmax(SoftmaxFn fn, const std::vector<float>& x, std::vector<float>& y) const {
    ktest::UseKernels use(&Dispatch::softmax, fn);
    sdk_kernels::softmax_f32(x.data(), n_, y.data());
  }
  size_t run_topk(TopkFn fn, const std::vector<float>& x, std::vector<int32_t>& idx,
                  std::vector<float>& val) const {
    ktest::UseKernels use(&Dispatch::topk, fn);
    return sdk_kernels::topk_f32(x.data(), n_, k_, idx.data(), val.data());
  }

  size_t n_ = 10, k_ = 5;
  bool ties_ = false;
  uint64_t seed_ = 1;
};

template <typename Fn, typename Test>
void sweep(Fn fn, Test test) {
  uint64_t s = 0;
  for (size_t n : {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 223, 1000, 1919})
    for (size_t k : {1, 5, 20})
      for (bool t : {false, true}) (SoftmaxTester().n(n).k(k).ties(t).seed(ktest::seed_for(s++)).*test)(fn);
}

void softmax_sizes(SoftmaxFn fn) { sweep(fn, &SoftmaxTester::test_softmax); }
void topk_sizes(TopkFn fn) { sweep(fn, &SoftmaxTester::test_topk); }

}  // namespace

KERNEL_TEST(f32_softmax__scalar, sizes, softmax_sizes);
KERNEL_TEST(f32_topk__scalar, sizes, topk_sizes);
#if defined(SDK_KERNELS_HAVE_NEON)
NEON_KERNEL_TEST(f32_softmax__neon, sizes, softmax_sizes);
NEON_KERNEL_TEST(f32_topk__neon, sizes, topk_sizes);
#endif

DISPATCH_PICK_TEST(sdk_kernels::Op::Softmax, "f32_softmax", KTEST_SLOT(softmax, f32_softmax));
DISPATCH_PICK_TEST(sdk_kernels::Op::TopK, "f32_topk", KTEST_SLOT(topk, f32_topk));

TEST_MAIN()
