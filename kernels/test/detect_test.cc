// decode + class-aware NMS, one case per pair of micro-kernels (class max, greedy suppression) that the
// tester hands the real driver (see variants.h); all bit-exact (same float expressions, same
// ordering rules):
//   f32_class_max__scalar+f32_nms_suppress__scalar  vs a naive O(n^2) greedy NMS per class, written
//                                               from OpenCV's NMSBoxes rules (stable score
//                                               order, IoU > thr drops, degenerate pairs
//                                               overlap fully), one class at a time
//   any pair with a NEON micro-kernel                vs the scalar pair
#include <algorithm>
#include <cfloat>
#include <limits>
#include <numeric>
#include <vector>

#include "sdk_kernels/kernels.h"
#include "tester.h"
#include "variants.h"

namespace {

using sdk_kernels::Detection;
using ktest::Dispatch;
using ClassMaxFn = void (*)(const float*, size_t, size_t, size_t, float, float*, int32_t*, size_t);
using SuppressFn = size_t (*)(const sdk_kernels::internal::NmsPass&, Detection*, size_t);

class NmsTester {
 public:
  NmsTester& boxes(size_t v) { n_ = v; return *this; }
  NmsTester& classes(size_t v) { c_ = v; return *this; }
  NmsTester& extra_stride(size_t v) { extra_ = v; return *this; }
  NmsTester& max_det(size_t v) { max_det_ = v; return *this; }
  NmsTester& letterbox(bool v) { lb_ = v; return *this; }
  NmsTester& seed(uint64_t s) { seed_ = s; return *this; }
  // every 5th box has zero width (and so zero area): OpenCV's degenerate-pair rule
  NmsTester& degenerate(bool v) { degenerate_ = v; return *this; }
  // every 11th box has a negative width (x2 < x1: a negative area) and every 13th a NaN
  // width: below iou 1 the degenerate-pair rule drops every pair whose area sum is <=
  // DBL_EPSILON before the IoU test (the NEON one-clamp test relies on it); at iou 1 no rule
  // runs first and such a pair has IoU 1, which never exceeds the threshold
  NmsTester& inverted(bool v) { inverted_ = v; return *this; }
  NmsTester& iou(float v) { iou_ = v; return *this; }
  // scores below the threshold except on runs of boxes (as a detector's output): blocks with
  // and without candidates, and the switches between them
  NmsTester& sparse(bool v) { sparse_ = v; return *this; }

  void test(ClassMaxFn class_max, SuppressFn suppress) const {
    ktest::current_seed() = seed_;
    std::mt19937_64 rng(seed_);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    const size_t rs = n_ + extra_;
    std::vector<float> data((4 + c_) * rs, 0.f);
    for (size_t i = 0; i < n_; i++) {
      data[i] = u(rng) * 600;
      data[rs + i] = u(rng) * 600;
      data[2 * rs + i] = degenerate_ && i % 5 == 0 ? 0.f : 10 + u(rng) * 100;
      if (inverted_ && i % 11 == 3) data[2 * rs + i] = -data[2 * rs + i];
      if (inverted_ && i % 13 == 5) data[2 * rs + i] = std::numeric_limits<float>::quiet_NaN();
      data[3 * rs + i] = 10 + u(rng) * 100;
      const bool lit = !sparse_ || (i / 23) % 5 == 0 || i % 97 == 0;
      for (size_t c = 0; c < c_; c++)
        data[(4 + c) * rs + i] = float(int(u(rng) * 64)) / 64 * (lit ? 1.f : 0.25f);
    }
    sdk_kernels::DecodeParams p{};
    p.num_boxes = n_;
    p.num_classes = c_;
    p.row_stride = rs;
    p.score_threshold = 0.25f;
    p.iou_threshold = iou_;
    p.max_detections = max_det_;
    p.letterbox = {1.f, 1.f, 0, 0, 640, 640};
    if (lb_) p.letterbox = {0.5f, 0.5f, 0, 80, 640, 480};
    p.clip_width = lb_ ? 1280.f : 0.f;
    p.clip_height = lb_ ? 960.f : 0.f;
    std::vector<uint64_t> ws(sdk_kernels::decode_nms_workspace_size(n_, c_) / 8 + 1);
    const ClassMaxFn scalar_class_max = sdk_kernels::internal::f32_class_max__scalar;
    const SuppressFn scalar_suppress = sdk_kernels::internal::f32_nms_suppress__scalar;
    std::vector<Detection> ref(max_det_ + 1);  // the scalar pair's detections
    ref.resize(run(scalar_class_max, scalar_suppress, data, p, ws, ref));
    if (class_max != scalar_class_max || suppress != scalar_suppress) {
      std::vector<Detection> opt(max_det_ + 1);
      const size_t on = run(class_max, suppress, data, p, ws, opt), rn = ref.size();
      const char* what = ktest::current_case().c_str();
      CHECK(rn == on, "%s n=%zu c=%zu: ref %zu dets, got %zu", what, n_, c_, rn, on);
      for (size_t k = 0; k < std::min(rn, on); k++)
        if (!CHECK(std::memcmp(&ref[k], &opt[k], sizeof(Detection)) == 0, "%s n=%zu c=%zu det %zu differs", what, n_, c_, k)) break;
      return;  // the scalar pair is checked against the naive NMS in its own cases
    }
    const size_t on = ref.size();
    const std::vector<Detection> naive = naive_nms(data, p);  // the scalar pair vs naive
    CHECK(naive.size() == on, "naive n=%zu c=%zu: want %zu dets, got %zu", n_, c_, naive.size(), on);
    for (size_t k = 0; k < std::min(on, naive.size()); k++)
      if (!CHECK(std::memcmp(&ref[k], &naive[k], sizeof(Detection)) == 0,
                 "scalar vs naive n=%zu c=%zu det %zu: want cls %d score %g got cls %d score %g", n_, c_, k,
                 naive[k].class_id, naive[k].score, ref[k].class_id, ref[k].score)) break;
  }

 private:
  size_t run(ClassMaxFn class_max, SuppressFn suppress, const std::vector<float>& data,
             const sdk_kernels::DecodeParams& p, std::vector<uint64_t>& ws,
             std::vector<Detection>& out) const {
    ktest::UseKernels use;
    use.set(&Dispatch::class_max, class_max).set(&Dispatch::suppress, suppress);
    return sdk_kernels::decode_nms(data.data(), p, ws.data(), out.data());
  }

  static std::vector<Detection> naive_nms(const std::vector<float>& data, const sdk_kernels::DecodeParams& p) {
    const size_t rs = p.row_stride;
    struct B { Detection d; size_t idx; };
    std::vector<B> all;
    for (size_t i = 0; i < p.num_boxes; i++) {
      float best = data[4 * rs + i];
      int cls = 0;
      for (size_t c = 1; c < p.num_classes; c++)
        if (data[(4 + c) * rs + i] > best) { best = data[(4 + c) * rs + i]; cls = int(c); }
      if (!(best > p.score_threshold)) continue;
      const auto& l = p.letterbox;
      const float sx = 1.f / l.scale_x, sy = 1.f / l.scale_y;
      const float cx = data[i], cy = data[rs + i], w = data[2 * rs + i], h = data[3 * rs + i];
      Detection d{(cx - 0.5f * w - l.offset_x) * sx, (cy - 0.5f * h - l.offset_y) * sy,
                  (cx + 0.5f * w - l.offset_x) * sx, (cy + 0.5f * h - l.offset_y) * sy, best, cls};
      if (p.clip_width > 0) {
        d.x1 = std::clamp(d.x1, 0.f, p.clip_width); d.x2 = std::clamp(d.x2, 0.f, p.clip_width);
        d.y1 = std::clamp(d.y1, 0.f, p.clip_height); d.y2 = std::clamp(d.y2, 0.f, p.clip_height);
      }
      all.push_back({d, i});
    }
    std::stable_sort(all.begin(), all.end(), [](const B& a, const B& b) { return a.d.score > b.d.score; });
    std::vector<B> kept;
    std::vector<bool> dead(all.size());
    for (size_t i = 0; i < all.size(); i++) {
      if (dead[i]) continue;
      kept.push_back(all[i]);
      const Detection& a = all[i].d;
      for (size_t j = i + 1; j < all.size(); j++) {
        const Detection& b = all[j].d;
        if (b.class_id != a.class_id) continue;
        const float w = std::fmax(std::fmin(a.x2, b.x2) - std::fmax(a.x1, b.x1), 0.f);
        const float h = std::fmax(std::fmin(a.y2, b.y2) - std::fmax(a.y1, b.y1), 0.f);
        const float inter = w * h;
        const float aa = (a.x2 - a.x1) * (a.y2 - a.y1), ab = (b.x2 - b.x1) * (b.y2 - b.y1);
        const float uni = (aa + ab) - inter;
        // OpenCV: areas summing to <= DBL_EPSILON are a full overlap (IoU 1)
        const bool full = aa + ab <= float(DBL_EPSILON);
        if (full ? p.iou_threshold < 1.f : inter > p.iou_threshold * uni) dead[j] = true;
      }
    }
    std::stable_sort(kept.begin(), kept.end(), [](const B& a, const B& b) {
      if (a.d.score != b.d.score) return a.d.score > b.d.score;
      if (a.d.class_id != b.d.class_id) return a.d.class_id < b.d.class_id;
      return a.idx < b.idx;
    });
    std::vector<Detection> out;
    for (size_t k = 0; k < kept.size() && k < p.max_detections; k++) out.push_back(kept[k].d);
    return out;
  }

  size_t n_ = 17, c_ = 3, extra_ = 0, max_det_ = 300;
  float iou_ = 0.45f;
  bool lb_ = false, degenerate_ = false, sparse_ = false, inverted_ = false;
  uint64_t seed_ = 1;
};

void nms_sizes(ClassMaxFn class_max, SuppressFn suppress) {
  uint64_t s = 0;
  for (size_t n : {1, 7, 15, 17, 223, 1919})
    for (size_t c : {1, 3, 80})
      NmsTester().boxes(n).classes(c).extra_stride(s % 3).letterbox(s % 2).seed(ktest::seed_for(s++))
          .test(class_max, suppress);
}

void nms_max_detections(ClassMaxFn class_max, SuppressFn suppress) {
  uint64_t s = 100;
  for (size_t m : {1, 5, 100, 2000})
    NmsTester().boxes(1919).classes(4).max_det(m).seed(ktest::seed_for(s++)).test(class_max, suppress);
}

void nms_sparse_scores(ClassMaxFn class_max, SuppressFn suppress) {
  uint64_t s = 300;
  for (size_t n : {15, 16, 17, 223, 1919})
    for (size_t c : {1, 80})
      NmsTester().boxes(n).classes(c).sparse(true).seed(ktest::seed_for(s++)).test(class_max, suppress);
}

void nms_degenerate_boxes(ClassMaxFn class_max, SuppressFn suppress) {
  uint64_t s = 200;
  for (size_t n : {17, 223})
    NmsTester().boxes(n).classes(3).degenerate(true).seed(ktest::seed_for(s++)).test(class_max, suppress);
}

// Inverted boxes after and before a batch boundary (max_det: the driver's batches are passes of
// the suppress kernel, each of which must see a negative kept area of an earlier pass).
void nms_inverted_boxes(ClassMaxFn class_max, SuppressFn suppress) {
  uint64_t s = 400;
  for (float iou : {0.45f, 1.f})
    for (size_t m : {5, 40, 3000})
      for (size_t c : {1, 4})
        NmsTester().boxes(1919).classes(c).max_det(m).inverted(true).iou(iou).seed(ktest::seed_for(s++))
            .test(class_max, suppress);
}

}  // namespace

KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__scalar, nms_sizes, nms_sizes);
KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__scalar, nms_max_detections, nms_max_detections);
KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__scalar, nms_degenerate_boxes, nms_degenerate_boxes);
KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__scalar, nms_sparse_scores, nms_sparse_scores);
KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__scalar, nms_inverted_boxes, nms_inverted_boxes);
#if defined(SDK_KERNELS_HAVE_NEON)
NEON_KERNEL_TEST2(f32_class_max__neon, f32_nms_suppress__scalar, nms_sizes, nms_sizes);
NEON_KERNEL_TEST2(f32_class_max__neon, f32_nms_suppress__scalar, nms_max_detections, nms_max_detections);
NEON_KERNEL_TEST2(f32_class_max__neon, f32_nms_suppress__scalar, nms_sparse_scores, nms_sparse_scores);
NEON_KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__neon, nms_sizes, nms_sizes);
NEON_KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__neon, nms_max_detections, nms_max_detections);
NEON_KERNEL_TEST2(f32_class_max__neon, f32_nms_suppress__neon, nms_sizes, nms_sizes);
NEON_KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__neon, nms_degenerate_boxes, nms_degenerate_boxes);
NEON_KERNEL_TEST2(f32_class_max__scalar, f32_nms_suppress__neon, nms_inverted_boxes, nms_inverted_boxes);
#endif

DISPATCH_PICK_TEST(sdk_kernels::Op::DecodeNMS, "f32_class_max+f32_nms_suppress",
                   KTEST_SLOT(class_max, f32_class_max), KTEST_SLOT(suppress, f32_nms_suppress));

TEST_MAIN()
