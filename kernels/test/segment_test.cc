// argmax over channels and DB binarisation: dispatched vs scalar vs naive, bit-exact.
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"

namespace {

class SegmentTester {
 public:
  SegmentTester& size(size_t w, size_t h) { w_ = w; h_ = h; return *this; }
  SegmentTester& channels(size_t c) { c_ = c; return *this; }
  SegmentTester& extra_stride(size_t e) { extra_ = e; return *this; }
  SegmentTester& seed(uint64_t s) { seed_ = s; return *this; }

  void test() const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    const size_t rs = w_ + extra_, ps = rs * h_ + 3, ls = w_ + extra_ * 2;
    std::vector<float> x(ps * c_);
    for (auto& v : x) v = float(rng() % 16) / 16.f;  // many ties
    std::vector<uint8_t> ref(ls * h_, 7), opt(ls * h_, 7);
    sdk_kernels::force_scalar(true);
    sdk_kernels::argmax_chw_u8(x.data(), c_, h_, w_, rs, ps, ref.data(), ls);
    sdk_kernels::force_scalar(false);
    sdk_kernels::argmax_chw_u8(x.data(), c_, h_, w_, rs, ps, opt.data(), ls);
    int bad = 0;
    for (size_t y = 0; y < h_; y++)
      for (size_t i = 0; i < ls && bad < 3; i++) {
        uint8_t want = 7;
        if (i < w_) {
          float b = x[y * rs + i];
          want = 0;
          for (size_t c = 1; c < c_; c++)
            if (x[c * ps + y * rs + i] > b) { b = x[c * ps + y * rs + i]; want = uint8_t(c); }
        }
        if (!CHECK(ref[y * ls + i] == want && opt[y * ls + i] == want,
                   "argmax %zux%zu c=%zu (%zu,%zu): want %d ref %d got %d", w_, h_, c_, i, y, want,
                   ref[y * ls + i], opt[y * ls + i])) bad++;
      }
    std::vector<uint8_t> mr(ls * h_, 7), mo(ls * h_, 7);
    sdk_kernels::force_scalar(true);
    sdk_kernels::binarize_f32_u8(x.data(), h_, w_, rs, 0.3f, mr.data(), ls);
    sdk_kernels::force_scalar(false);
    sdk_kernels::binarize_f32_u8(x.data(), h_, w_, rs, 0.3f, mo.data(), ls);
    for (size_t y = 0; y < h_; y++)
      for (size_t i = 0; i < ls && bad < 6; i++) {
        const uint8_t want = i < w_ ? (x[y * rs + i] > 0.3f ? 255 : 0) : 7;
        if (!CHECK(mr[y * ls + i] == want && mo[y * ls + i] == want, "binarize %zux%zu (%zu,%zu)", w_, h_, i, y)) bad++;
      }
  }

 private:
  size_t w_ = 7, h_ = 3, c_ = 3, extra_ = 0;
  uint64_t seed_ = 1;
};

}  // namespace

TEST(segment_sizes) {
  uint64_t s = 0;
  for (size_t w : {1, 3, 4, 7, 8, 15, 16, 17, 31, 223, 1919})
    for (size_t c : {1, 2, 19})
      SegmentTester().size(w, w > 200 ? 3 : 5).channels(c).extra_stride(s % 3).seed(ktest::seed_for(s++)).test();
}

TEST_MAIN()
