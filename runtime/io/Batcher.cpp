/// Deterministic shuffling (SplitMix64 and Fisher-Yates, the same on every
/// machine), batching into a model input's shape, and hold-out splits.
#include "runtime/io/Dataset.h"
#include "runtime/SplitMix64.h"

#include <algorithm>
#include <cstring>

namespace nnc {

namespace {

/// `[2, 3]`.
std::string dimsText(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// ---- shuffling ---------------------------------------------------------------

/// The seed of stream `stream` of `seed`: distinct streams of one seed get
/// distinct states.
uint64_t streamSeed(uint64_t seed, uint64_t stream) {
  return SplitMix64(SplitMix64(seed).next() ^ stream).next();
}

/// Stream numbers: epochs count up from 0; splits use this one.
constexpr uint64_t kHoldoutStream = 0x686f6c646f7574ull; // "holdout"

std::vector<int64_t> permutation(int64_t n, uint64_t state) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    order[static_cast<size_t>(i)] = i;
  SplitMix64 rng(state);
  // Fisher-Yates: position i takes a uniform pick of the rows not yet placed.
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

/// The rows `rows` of `d`, as a dataset of their own.
Dataset takeRows(const Dataset &d, std::span<const int64_t> rows, std::string source) {
  std::vector<int64_t> exampleShape(d.features.shape().begin() + 1, d.features.shape().end());
  Batch b = gatherBatch(d, rows, exampleShape);
  return Dataset{std::move(b.features), std::move(b.labels), std::move(source), d.imagePixels,
                 d.labelSource};
}

} // namespace

// ---- shuffling and batches -------------------------------------------------

std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, uint64_t epoch) {
  return permutation(n, streamSeed(seed, epoch));
}

namespace {

/// Bytes at the start of each row (at most) that copyRows prefetches before
/// copying the rows: the rows of a shuffled batch lie all over the data
/// set, mostly out of cache, and one copy after another waited for each
/// row's first lines in turn; with all of them asked for at once, the
/// memory fetches them side by side and the hardware prefetcher streams the
/// rest of each row (the MLP's batch of 64 rows of 3136 bytes: 21-24
/// rather than 27-38 us; prefetching whole rows, 29-41 us, floods the load
/// queue).
constexpr size_t kRowPrefetchBytes = 512;
/// Rows prefetched at a time (64 x 512 bytes: in L1 or L2 when copied).
constexpr int64_t kRowsPrefetched = 64;

/// Copies rows of `src` (each `elements` 4-byte values) to `dst` in order:
/// with a pool, in one task per thread of consecutive rows.
void copyRows(const Tensor &src, std::span<const int64_t> rows, int64_t elements, Tensor &dst,
              ThreadPool *pool = nullptr) {
  if (elements <= 0)
    return;
  struct Copy {
    const char *from;
    char *to;
    size_t rowBytes;
    std::span<const int64_t> rows;
    int64_t parts;
    const char *row(int64_t k) const {
      return from + static_cast<size_t>(rows[static_cast<size_t>(k)]) * rowBytes;
    }
    /// Rows [begin, end): prefetched, then copied.
    void copy(int64_t begin, int64_t end) const {
      const size_t ahead = std::min(rowBytes, kRowPrefetchBytes);
      for (int64_t k = begin; k < end; ++k)
        for (size_t b = 0; b < ahead; b += 64)
          __builtin_prefetch(row(k) + b);
      for (int64_t k = begin; k < end; ++k)
        std::memcpy(to + static_cast<size_t>(k) * rowBytes, row(k), rowBytes);
    }
    void run(int64_t part) const {
      auto n = static_cast<int64_t>(rows.size());
      const int64_t end = n * (part + 1) / parts;
      for (int64_t k = n * part / parts; k < end; k += kRowsPrefetched)
        copy(k, std::min(end, k + kRowsPrefetched));
    }
  };
  Copy copy{static_cast<const char *>(src.data()), static_cast<char *>(dst.data()),
            static_cast<size_t>(elements) * 4, rows, pool ? pool->threads() : 1};
  if (copy.parts == 1)
    return copy.run(0);
  pool->parallelFor(
      copy.parts, [](void *ctx, int64_t part) { static_cast<const Copy *>(ctx)->run(part); },
      &copy);
}

/// Copies `rows` of `data` into `b`, whose tensors have their shapes (the
/// features on `pool`'s threads when there is one).
void fillBatch(const Dataset &data, std::span<const int64_t> rows, Batch &b,
               ThreadPool *pool = nullptr) {
  copyRows(data.features, rows, data.exampleElements(), b.features, pool);
  if (!data.labels.empty())
    copyRows(data.labels, rows, data.labelElements(), b.labels);
}

std::vector<int64_t> batchShape(size_t rows, std::span<const int64_t> exampleShape) {
  std::vector<int64_t> shape{static_cast<int64_t>(rows)};
  shape.insert(shape.end(), exampleShape.begin(), exampleShape.end());
  return shape;
}

} // namespace

Batch gatherBatch(const Dataset &data, std::span<const int64_t> rows,
                  const std::vector<int64_t> &exampleShape) {
  Batch b{Tensor(data.features.dtype(), batchShape(rows.size(), exampleShape)), Tensor()};
  if (!data.labels.empty())
    b.labels = Tensor(data.labels.dtype(),
                      batchShape(rows.size(), std::span(data.labels.shape()).subspan(1)));
  fillBatch(data, rows, b);
  return b;
}

Batcher::Batcher(const Dataset &data, std::vector<int64_t> exampleShape, int64_t batchSize,
                 uint64_t seed)
    : data_(&data), exampleShape_(std::move(exampleShape)), batchSize_(batchSize), seed_(seed) {
  inOrder();
}

Result<Batcher> Batcher::create(const Dataset &data, std::vector<int64_t> exampleShape,
                                int64_t batchSize, uint64_t seed) {
  using R = Result<Batcher>;
  if (batchSize <= 0)
    return R::fail("batch size must be positive, got {}", batchSize);
  if (data.size() == 0 || data.features.rank() == 0)
    return R::fail("{}: no examples", data.source);
  int64_t elements = 1;
  for (int64_t d : exampleShape) {
    if (d <= 0)
      return R::fail("{}: the model input's per-example shape {} has a "
                     "dimension that is not positive",
                     data.source, dimsText(exampleShape));
    elements = d > (int64_t(1) << 40) / elements ? -1 : elements * d;
    if (elements < 0)
      return R::fail("{}: the model input's per-example shape {} is too large", data.source,
                     dimsText(exampleShape));
  }
  if (elements != data.exampleElements()) {
    std::span<const int64_t> stored(data.features.shape());
    return R::fail("{}: each example has {} elements ({}), but the model input "
                   "takes {} per example ({})",
                   data.source, data.exampleElements(), dimsText(stored.subspan(1)), elements,
                   dimsText(exampleShape));
  }
  return Batcher(data, std::move(exampleShape), batchSize, seed);
}

void Batcher::shuffle(uint64_t epoch) { order_ = shuffledOrder(data_->size(), seed_, epoch); }

void Batcher::inOrder() {
  order_.resize(static_cast<size_t>(data_->size()));
  for (size_t i = 0; i < order_.size(); ++i)
    order_[i] = static_cast<int64_t>(i);
}

int64_t Batcher::batchCount() const { return (data_->size() + batchSize_ - 1) / batchSize_; }

std::span<const int64_t> Batcher::rowsOf(int64_t i) const {
  int64_t begin = i * batchSize_;
  int64_t end = std::min(begin + batchSize_, data_->size());
  return std::span<const int64_t>(order_).subspan(static_cast<size_t>(begin),
                                                  static_cast<size_t>(end - begin));
}

Batch Batcher::batch(int64_t i) const { return gatherBatch(*data_, rowsOf(i), exampleShape_); }

void Batcher::batchInto(int64_t i, Batch &out, ThreadPool *pool) const {
  std::span<const int64_t> rows = rowsOf(i);
  std::vector<int64_t> shape = batchShape(rows.size(), exampleShape_);
  bool labelsReusable = data_->labels.empty() || out.labels.unshared();
  if (out.features.shape() != shape || !out.features.unshared() || !labelsReusable) {
    out = gatherBatch(*data_, rows, exampleShape_);
    return;
  }
  fillBatch(*data_, rows, out, pool);
}

Result<std::pair<Dataset, Dataset>> splitHoldout(Dataset d, double fraction, uint64_t seed) {
  using R = Result<std::pair<Dataset, Dataset>>;
  if (!(fraction > 0 && fraction < 1))
    return R::fail("{}: the held-out fraction must be between 0 and 1, got {}", d.source, fraction);
  int64_t n = d.size();
  auto held = static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction));
  if (held == 0 || held == n)
    return R::fail("{}: cannot hold out {} of {} examples: one part would be "
                   "empty",
                   d.source, fraction, n);
  std::vector<int64_t> order = permutation(n, streamSeed(seed, kHoldoutStream));
  std::vector<int64_t> heldRows(order.begin(), order.begin() + held);
  std::vector<int64_t> trainRows(order.begin() + held, order.end());
  std::sort(heldRows.begin(), heldRows.end());
  std::sort(trainRows.begin(), trainRows.end());
  std::string pct = fmt::format("{:g}%", fraction * 100);
  Dataset train = takeRows(d, trainRows, d.source + " (training part)");
  Dataset holdout = takeRows(d, heldRows, d.source + " (held-out " + pct + ")");
  return std::pair(std::move(train), std::move(holdout));
}

} // namespace nnc
