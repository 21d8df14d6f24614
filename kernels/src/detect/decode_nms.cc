// Driver of decode + class-aware NMS (shared by every variant).
//
// The semantics are OpenCV's cv::dnn::NMSBoxes run once per class (modules/dnn/src/nms.cpp,
// detail::NMSBoxesFast in OpenCV 5), with the per-class results merged and cut to
// max_detections by (score desc, class asc, box index asc):
//   - a candidate is a box whose best class score is > score_threshold (strict, as
//     GetMaxScoreIndex; NaN is never a candidate);
//   - inside a class, candidates go by score descending, equal scores by ascending box index
//     (OpenCV's std::stable_sort of (score, index) pairs built in index order);
//   - a candidate is dropped if its IoU with an already kept box of its class is > iou
//     threshold (OpenCV keeps it when overlap <= threshold: equality keeps); IoU is evaluated
//     as inter > thr * ((area_a + area_b) - inter) in float, OpenCV evaluates it in double,
//     so a pair within float rounding of the threshold is the only place the two can differ;
//   - two boxes whose areas sum to <= DBL_EPSILON overlap fully (OpenCV's jaccardDistance
//     returns 0 there: IoU 1), so a degenerate candidate is dropped against a degenerate kept
//     box whenever iou_threshold < 1, and such a pair never drops one at iou_threshold >= 1
//     (the IoU formula is not evaluated for it: with a negative area it could say > 1).
//
// Because classes never interact and every class is greedy in the same global order, the
// candidates are processed in ONE order, (score desc, class asc, index asc) packed in a u64
// key, and the first max_detections boxes kept in that order are exactly the top of the
// merged per-class result. When max_detections may need most candidates the keys are radix
// sorted (radix_sort: stable LSD on the 22 highest score bits that differ, then runs equal on
// those bits sorted by the whole key); otherwise the driver selects and
// sorts only as many keys as it needs (batches, nth_element + sort) and stops there. The
// dispatched suppress micro-kernel (internal.h, NmsPass) runs the greedy loop over each batch:
// each candidate is checked against the kept boxes of its class only, as OpenCV's loop does;
// a class's kept boxes are blocks of 4.
#include <algorithm>
#include <cstring>

#include "../internal.h"

namespace sdk_kernels {

namespace {
struct Ws {
  float* best;
  int32_t* cls;
  uint64_t* key;    // candidates: (score desc, class, index)
  int32_t* base;    // C + 1: start of each class's kept-box region (blocks of 4)
  int32_t* nkept;   // C
  float* min_area;  // C: smallest kept area per class (degenerate-pair rule)
  float* kept;      // kept boxes, by class region, blocks of internal::kKeptBlock floats
  uint64_t* tmp;    // radix sort: second key buffer
  uint32_t* hist;   // radix sort: 2 x kRadix counters
  uint32_t* hist1;  // = hist + kRadix (a pointer of its own: the loops index it directly)
  uint32_t any, all;  // OR and AND of the candidates' score bits (desc_bits)
};

constexpr size_t kRadixBits = 11, kRadix = size_t(1) << kRadixBits;

inline size_t al(size_t b) { return (b + 15) & ~size_t(15); }

Ws carve(void* w, size_t n, size_t c) {
  auto* p = static_cast<uint8_t*>(w);
  Ws s{};
  auto take = [&](size_t bytes) { uint8_t* q = p; p += al(bytes); return q; };
  const size_t kb = (n + 4 * c) * 4;  // bytes of one field of the kept boxes
  s.best = reinterpret_cast<float*>(take(n * 4));
  s.cls = reinterpret_cast<int32_t*>(take(n * 4));
  s.key = reinterpret_cast<uint64_t*>(take(n * 8));
  s.base = reinterpret_cast<int32_t*>(take((c + 1) * 4));
  s.nkept = reinterpret_cast<int32_t*>(take(c * 4));
  s.min_area = reinterpret_cast<float*>(take(c * 4));
  s.kept = reinterpret_cast<float*>(take(5 * kb));
  s.tmp = reinterpret_cast<uint64_t*>(take(n * 8));
  s.hist = reinterpret_cast<uint32_t*>(take(2 * kRadix * 4));
  s.hist1 = s.hist + kRadix;
  return s;
}

// Descending float order as an ascending u32 (-0 folded into +0, so they tie as in OpenCV).
inline uint32_t desc_bits(float s) {
  s += 0.f;
  uint32_t b;
  std::memcpy(&b, &s, 4);
  return (b & 0x80000000u) ? b : ~(b | 0x80000000u);
}

internal::BoxDecoder decoder(const DecodeParams& p) {
  const LetterboxInfo& lb = p.letterbox;
  return internal::BoxDecoder{lb.scale_x > 0 ? 1.f / lb.scale_x : 1.f,
                 lb.scale_y > 0 ? 1.f / lb.scale_y : 1.f,
                 static_cast<float>(lb.offset_x),
                 static_cast<float>(lb.offset_y),
                 p.clip_width,
                 p.clip_height,
                 p.clip_width > 0 && p.clip_height > 0,
                 p.row_stride};
}

// Thresholded candidates as keys; class regions of the kept-box arrays. Returns m.
size_t candidates(const DecodeParams& p, Ws& w) {
  const size_t n = p.num_boxes, nc = p.num_classes;
  std::memset(w.base, 0, (nc + 1) * sizeof(int32_t));
  size_t m = 0;
  uint32_t any = 0, all = ~0u;
  for (size_t i = 0; i < n; i++) {
    if (!(w.best[i] > p.score_threshold)) continue;
    const auto c = static_cast<uint32_t>(w.cls[i]);
    const uint32_t s = desc_bits(w.best[i]);
    any |= s;
    all &= s;
    w.key[m++] = (uint64_t(s) << 32) | (c * uint32_t(n) + uint32_t(i));
    w.base[c + 1]++;
  }
  w.any = any;
  w.all = all;
  for (size_t c = 0; c < nc; c++) {
    w.base[c + 1] = w.base[c] + ((w.base[c + 1] + 3) & ~3);  // whole blocks of 4 per class
    w.nkept[c] = 0;
  }
  return m;
}

// Ascending sort of key[0..m): stable LSD radix, 2 digits of kRadixBits, on the 22 highest
// score bits that differ between keys (the bits above them are common to all: candidates'
// scores crowd just under 1 after a max over 80 classes), then each run of keys equal on and
// above those bits sorted by the whole key (the remaining score bits, then class and index).
// (no-tree-loop-distribute-patterns: GCC would make the zeroing a memset call, 4x the cost.)
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void radix_sort(Ws& w, size_t m) {
  uint64_t* const key = w.key;
  const uint64_t differ = uint64_t(w.any ^ w.all) << 32;  // score bits that are not common
  const unsigned hi = differ ? 64 - static_cast<unsigned>(__builtin_clzll(differ)) : 32;
  const unsigned lo = hi > 32 + 2 * kRadixBits ? hi - 2 * static_cast<unsigned>(kRadixBits) : 32;
  uint32_t* h = w.hist;
  for (size_t b = 0; b < 2 * kRadix; b += 4) h[b] = h[b + 1] = h[b + 2] = h[b + 3] = 0;
  uint32_t* const h1 = w.hist1;
  size_t i = 0;
  for (; i + 2 <= m; i += 2) {  // (two keys per iteration: half the loop overhead)
    const uint64_t v = key[i] >> lo, u = key[i + 1] >> lo;  // then the digits are fixed fields
    h[v & (kRadix - 1)]++;
    h1[(v >> kRadixBits) & (kRadix - 1)]++;
    h[u & (kRadix - 1)]++;
    h1[(u >> kRadixBits) & (kRadix - 1)]++;
  }
  if (i < m) {
    const uint64_t v = key[i] >> lo;
    h[v & (kRadix - 1)]++;
    h1[(v >> kRadixBits) & (kRadix - 1)]++;
  }
  uint64_t *src = key, *dst = w.tmp;
  for (size_t d = 0; d < 2; d++) {
    uint32_t* c = h + d * kRadix;
    const unsigned shift = lo + static_cast<unsigned>(d * kRadixBits);
    if (c[(src[0] >> shift) & (kRadix - 1)] == m) continue;  // every key has this digit
    uint32_t sum = 0;
    for (size_t b = 0; b < kRadix; b += 4) {  // (four counters per iteration)
      const uint32_t v0 = c[b], v1 = c[b + 1], v2 = c[b + 2], v3 = c[b + 3];
      c[b] = sum;
      c[b + 1] = sum += v0;
      c[b + 2] = sum += v1;
      c[b + 3] = sum += v2;
      sum += v3;
    }
    size_t k = 0;
    for (; k + 2 <= m; k += 2) {
      const uint64_t v = src[k], u = src[k + 1];
      dst[c[(v >> shift) & (kRadix - 1)]++] = v;
      dst[c[(u >> shift) & (kRadix - 1)]++] = u;
    }
    if (k < m) dst[c[(src[k] >> shift) & (kRadix - 1)]++] = src[k];
    std::swap(src, dst);
  }
  if (src != key) std::memcpy(key, src, m * sizeof(uint64_t));
  uint64_t prev = key[0] >> lo;
  for (size_t i = 1; i < m; i++) {  // runs equal on and above bit lo: i - 1 starts one
    const uint64_t top = key[i] >> lo;
    if (top != prev) {
      prev = top;
      continue;
    }
    const size_t a0 = i - 1;
    size_t j = i + 1;
    while (j < m && (key[j] >> lo) == top) j++;
    if (j - a0 <= 16) {  // insertion sort of a short run
      for (size_t a = a0 + 1; a < j; a++) {
        const uint64_t v = key[a];
        size_t b = a;
        for (; b > a0 && key[b - 1] > v; b--) key[b] = key[b - 1];
        key[b] = v;
      }
    } else {
      std::sort(key + a0, key + j);
    }
    if (j < m) prev = key[j] >> lo;
    i = j;
  }
}
}  // namespace

size_t decode_nms_workspace_size(size_t n, size_t c) {
  return 2 * al(n * 4) + 2 * al(n * 8) + al((c + 1) * 4) + 2 * al(c * 4) + al(5 * (n + 4 * c) * 4) +
         al(2 * kRadix * 4) + 16;
}

size_t decode_nms(const float* data, const DecodeParams& p, void* workspace, Detection* out) {
  const size_t n = p.num_boxes, nc = p.num_classes;
  if (n == 0 || nc == 0 || p.max_detections == 0) return 0;
  if (uint64_t(n) * nc > 0xFFFFFFFFull) return 0;  // keys pack class * n + index in 32 bits
  const auto& d = internal::dispatch();
  Ws w = carve(workspace, n, nc);
  d.class_max(data + 4 * p.row_stride, n, nc, p.row_stride, p.score_threshold, w.best, w.cls, 0);
  const size_t m = candidates(p, w);
  internal::NmsPass pass{w.key, 0, n, (uint64_t(1) << 32) / n, data, decoder(p), w.best, p.iou_threshold,
                         p.iou_threshold < 1.f, p.max_detections, w.base, w.nkept, w.min_area, w.kept};
  size_t done = 0, nk = 0, batch = std::max<size_t>(2 * p.max_detections, 64);
  const bool all = batch >= m / 2;  // most keys may be needed: sort them all at once
  if (all && m > 0) {
    radix_sort(w, m);
    batch = m;
  }
  while (nk < p.max_detections && done < m) {
    const size_t t = std::min(batch, m - done);
    if (!all) {
      if (done + t < m) std::nth_element(w.key + done, w.key + done + t, w.key + m);
      std::sort(w.key + done, w.key + done + t);
    }
    pass.key = w.key + done;
    pass.count = t;
    nk = d.suppress(pass, out, nk);
    done += t;
    batch *= 2;
  }
  return nk;
}

}  // namespace sdk_kernels
