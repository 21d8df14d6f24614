// softmax: variant vs scalar within 2e-6 absolute + 1e-5 relative (polynomial exp), scalar
// vs naive double softmax within 1e-6 + 1e-5 relative. top-k: bit-exact vs a naive sort.
#include <algorithm>
#include <numeric>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"

namespace {

class SoftmaxTester {
 public:
  SoftmaxTester& n(size_t v) { n_ = v; return *this; }
  SoftmaxTester& k(size_t v) { k_ = v; return *this; }
  SoftmaxTester& ties(bool v) { ties_ = v; return *this; }
  SoftmaxTester& seed(uint64_t s) { seed_ = s; return *this; }

  void test() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    std::uniform_real_distribution<float> d(-20.f, 20.f);
    std::vector<float> x(n_);
    for (auto& v : x) v = ties_ ? float(int(d(rng)) / 4) : d(rng);
    std::vector<float> ref(n_), opt(n_);
    sdk_kernels::force_scalar(true);
    sdk_kernels::softmax_f32(x.data(), n_, ref.data());
    std::vector<int32_t> ri(k_ + 1, -7), oi(k_ + 1, -7);
    std::vector<float> rv(k_ + 1), ov(k_ + 1);
    const size_t rn = sdk_kernels::topk_f32(x.data(), n_, k_, ri.data(), rv.data());
    sdk_kernels::force_scalar(false);
    sdk_kernels::softmax_f32(x.data(), n_, opt.data());
    const size_t on = sdk_kernels::topk_f32(x.data(), n_, k_, oi.data(), ov.data());
    double mx = *std::max_element(x.begin(), x.end()), s = 0;
    for (float v : x) s += std::exp(double(v) - mx);
    int bad = 0;
    for (size_t i = 0; i < n_ && bad < 3; i++) {
      const double want = std::exp(double(x[i]) - mx) / s;
      if (!CHECK(std::fabs(want - ref[i]) <= 1e-6 + 1e-5 * want, "scalar softmax n=%zu [%zu] want %.9g got %.9g", n_, i, want, ref[i])) bad++;
      if (!CHECK(std::fabs(opt[i] - ref[i]) <= 2e-6 + 1e-5 * ref[i], "%s n=%zu [%zu] ref %.9g got %.9g",
                 sdk_kernels::kernel_variant(sdk_kernels::Op::Softmax), n_, i, ref[i], opt[i])) bad++;
    }
    std::vector<int32_t> order(n_);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
    const size_t kk = std::min(k_, n_);
    CHECK(rn == kk && on == kk, "topk count n=%zu k=%zu: ref %zu got %zu", n_, k_, rn, on);
    for (size_t j = 0; j < kk; j++) {
      CHECK(ri[j] == order[j], "scalar topk n=%zu k=%zu [%zu] want %d got %d", n_, k_, j, order[j], ri[j]);
      CHECK(oi[j] == order[j] && ov[j] == x[order[j]], "%s n=%zu k=%zu [%zu] want %d got %d",
            sdk_kernels::kernel_variant(sdk_kernels::Op::TopK), n_, k_, j, order[j], oi[j]);
    }
  }

 private:
  size_t n_ = 10, k_ = 5;
  bool ties_ = false;
  uint64_t seed_ = 1;
};

}  // namespace

TEST(softmax_topk_sizes) {
  uint64_t s = 0;
  for (size_t n : {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 223, 1000, 1919})
    for (size_t k : {1, 5, 20})
      for (bool t : {false, true}) SoftmaxTester().n(n).k(k).ties(t).seed(ktest::seed_for(s++)).test();
}

TEST_MAIN()
