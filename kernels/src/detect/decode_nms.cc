// Driver of decode + class-aware NMS (shared by every variant): best class per box
// (dispatched), threshold, ONE sort by (score desc, index asc), a stable counting sort into
// class buckets, greedy NMS inside each bucket with dispatched IoU rows, then the top
// max_detections by (score desc, class asc, index asc).
#include <algorithm>
#include <cstring>

#include "../internal.h"

namespace sdk_kernels {

namespace {
struct Ws {
  float* best;
  int32_t* cls;
  int32_t* order;   // candidates sorted by score
  int32_t* bucket;  // candidates by class, then score
  float *x1, *y1, *x2, *y2, *area;
  uint8_t* sup;
  int32_t* start;   // C + 1 bucket starts
  int32_t* cursor;  // C scatter cursors
  int32_t* kept;
};

inline size_t al(size_t b) { return (b + 15) & ~size_t(15); }

Ws carve(void* w, size_t n, size_t c) {
  auto* p = static_cast<uint8_t*>(w);
  Ws s{};
  auto take = [&](size_t bytes) { uint8_t* q = p; p += al(bytes); return q; };
  s.best = reinterpret_cast<float*>(take(n * 4));
  s.cls = reinterpret_cast<int32_t*>(take(n * 4));
  s.order = reinterpret_cast<int32_t*>(take(n * 4));
  s.bucket = reinterpret_cast<int32_t*>(take(n * 4));
  s.x1 = reinterpret_cast<float*>(take(n * 4));
  s.y1 = reinterpret_cast<float*>(take(n * 4));
  s.x2 = reinterpret_cast<float*>(take(n * 4));
  s.y2 = reinterpret_cast<float*>(take(n * 4));
  s.area = reinterpret_cast<float*>(take(n * 4));
  s.sup = take(n + 4);
  s.start = reinterpret_cast<int32_t*>(take((c + 1) * 4));
  s.cursor = reinterpret_cast<int32_t*>(take((c + 1) * 4));
  s.kept = reinterpret_cast<int32_t*>(take(n * 4));
  return s;
}
}  // namespace

size_t decode_nms_workspace_size(size_t n, size_t c) {
  return 10 * al(n * 4) + al(n + 4) + 2 * al((c + 1) * 4) + 16;
}

size_t decode_nms(const float* data, const DecodeParams& p, void* workspace, Detection* out) {
  const size_t n = p.num_boxes, nc = p.num_classes, rs = p.row_stride;
  if (n == 0 || nc == 0 || p.max_detections == 0) return 0;
  const auto& d = internal::dispatch();
  Ws w = carve(workspace, n, nc);
  d.class_max(data + 4 * rs, n, nc, rs, w.best, w.cls, 0);

  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (w.best[i] > p.score_threshold) w.order[m++] = static_cast<int32_t>(i);
  const float* best = w.best;
  std::sort(w.order, w.order + m, [best](int32_t a, int32_t b) {
    return best[a] > best[b] || (best[a] == best[b] && a < b);
  });
  std::memset(w.start, 0, (nc + 1) * sizeof(int32_t));
  for (size_t k = 0; k < m; k++) w.start[w.cls[w.order[k]] + 1]++;
  for (size_t c = 0; c < nc; c++) w.start[c + 1] += w.start[c];
  std::memcpy(w.cursor, w.start, nc * sizeof(int32_t));  // stable scatter into buckets
  for (size_t k = 0; k < m; k++) w.bucket[w.cursor[w.cls[w.order[k]]]++] = w.order[k];

  const LetterboxInfo& lb = p.letterbox;
  const float sx = lb.scale_x > 0 ? 1.f / lb.scale_x : 1.f;
  const float sy = lb.scale_y > 0 ? 1.f / lb.scale_y : 1.f;
  const float ox = static_cast<float>(lb.offset_x), oy = static_cast<float>(lb.offset_y);
  const bool clip = p.clip_width > 0 && p.clip_height > 0;
  for (size_t k = 0; k < m; k++) {
    const size_t b = static_cast<size_t>(w.bucket[k]);
    const float cx = data[b], cy = data[rs + b], bw = data[2 * rs + b], bh = data[3 * rs + b];
    float a = (cx - 0.5f * bw - ox) * sx, c = (cx + 0.5f * bw - ox) * sx;
    float e = (cy - 0.5f * bh - oy) * sy, f = (cy + 0.5f * bh - oy) * sy;
    if (clip) {
      a = std::clamp(a, 0.f, p.clip_width);
      c = std::clamp(c, 0.f, p.clip_width);
      e = std::clamp(e, 0.f, p.clip_height);
      f = std::clamp(f, 0.f, p.clip_height);
    }
    w.x1[k] = a;
    w.x2[k] = c;
    w.y1[k] = e;
    w.y2[k] = f;
    w.area[k] = (c - a) * (f - e);
    w.sup[k] = 0;
  }

  size_t nk = 0;
  for (size_t c = 0; c < nc; c++) {
    const size_t b = static_cast<size_t>(w.start[c]), e = static_cast<size_t>(w.start[c + 1]);
    size_t kept_here = 0;
    for (size_t i = b; i < e && kept_here < p.max_detections; i++) {
      if (w.sup[i]) continue;
      w.kept[nk++] = static_cast<int32_t>(i);
      kept_here++;
      d.iou_suppress(w.x1, w.y1, w.x2, w.y2, w.area, i, i + 1, e, p.iou_threshold, w.sup);
    }
  }
  const int32_t* bucket = w.bucket;
  const int32_t* cls = w.cls;
  auto by_score = [best, bucket, cls](int32_t a, int32_t b) {
    const int32_t ia = bucket[a], ib = bucket[b];
    if (best[ia] != best[ib]) return best[ia] > best[ib];
    if (cls[ia] != cls[ib]) return cls[ia] < cls[ib];
    return ia < ib;
  };
  const size_t no = std::min(nk, p.max_detections);
  std::partial_sort(w.kept, w.kept + no, w.kept + nk, by_score);
  for (size_t k = 0; k < no; k++) {
    const int32_t s = w.kept[k], b = w.bucket[s];
    out[k] = Detection{w.x1[s], w.y1[s], w.x2[s], w.y2[s], w.best[b], w.cls[b]};
  }
  return no;
}

}  // namespace sdk_kernels
