/// Labelled training data for `nnc train`: IDX directories (Fashion-MNIST,
/// MNIST), CSV files and .npy pairs, with deterministic shuffling, batching
/// and hold-out splits.
#pragma once

#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nnc {

/// N labelled examples in memory.
struct Dataset {
  /// f32 [N, ...]: each example's features in the shape they were stored in
  /// (e.g. [N, 28, 28] for IDX images, [N, 64] for a CSV of 64 features).
  Tensor features;
  /// i32 [N], each label non-negative.
  Tensor labels;
  /// Where the data came from, for messages.
  std::string source;
  /// True for IDX images (pixels already scaled to [0, 1]).
  bool imagePixels = false;

  int64_t size() const { return labels.empty() ? 0 : labels.dim(0); }
  /// Elements per example: the product of the features' dims after the first.
  int64_t exampleElements() const;
};

/// Reads a Fashion-MNIST / MNIST IDX directory (as Debian's
/// `dataset-fashion-mnist` installs it): `train-images-idx3-ubyte` and
/// `train-labels-idx1-ubyte`, or with `test` the `t10k-` pair; each file may
/// also be gzipped as `NAME.gz` (a `.gz` name must hold gzip data). Pixels
/// become f32 [N, rows, cols] scaled to [0, 1]. Every problem (bad magic,
/// bad dims, truncated or corrupt gzip, sizes that disagree with the header,
/// images and labels of different counts, more than 4 GiB) is an error naming
/// the file and the reason; a directory without the test pair, asked for it,
/// is an error that says there is no test split.
Result<Dataset> readIdxDirectory(const std::string &dir, bool test);

/// Parses an IDX image file and its label file from bytes in memory, with
/// the checks of readIdxDirectory(); a name ending in `.gz` means gzip data.
/// The names start every message. Safe on arbitrary bytes.
Result<Dataset> parseIdxPair(std::string_view images, std::string_view labels,
                             const std::string &imagesName, const std::string &labelsName);

/// Reads a CSV of numbers without a header, gzipped when the name ends in
/// `.gz`: each row the features, then a label column holding a non-negative
/// integer. All rows have the same number of columns (at least 2); blank lines
/// are skipped. Errors name the line and column, e.g.
/// `digits.csv:17: column 5: 'abc' is not a number`.
Result<Dataset> readCsv(const std::string &path);

/// Parses the bytes of a whole CSV file as readCsv() does; `name` starts
/// every message, and a name ending in `.gz` means gzip data.
Result<Dataset> parseCsv(std::string_view bytes, const std::string &name);

/// Reads features (f32, rank >= 1) and labels (i32 [N], non-negative) from
/// two .npy files whose first dimensions agree.
Result<Dataset> readNpyPair(const std::string &features, const std::string &labels);

/// The `--data` spec: a directory is an IDX directory, `A.npy,B.npy` a .npy
/// pair, anything else a CSV file. With `test`, the held-out split, which only
/// an IDX directory with t10k files has; for anything else the error says
/// there is no test split (see hasTestSplit()).
Result<Dataset> loadDataset(const std::string &spec, bool test);

/// Whether loadDataset(spec, true) would find a test split (an IDX directory
/// holding a t10k image file), so that callers can treat it as optional
/// without mistaking a corrupt test file for a missing one.
bool hasTestSplit(const std::string &spec);

/// A permutation of 0..n-1 that depends only on (n, seed, epoch), the same on
/// every machine: SplitMix64 and Fisher-Yates, no standard-library
/// distributions.
std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, uint64_t epoch);

/// One batch: features f32 [B, ...exampleShape] and labels i32 [B].
struct Batch {
  Tensor features;
  Tensor labels;
};

/// Cuts a dataset into batches of the model input's per-example shape, in an
/// order reshuffled each epoch. Holds a pointer to the dataset, which must
/// outlive it.
class Batcher {
public:
  /// Checks that `exampleShape` (the input's shape after the batch dim) has
  /// the dataset's per-example element count: 28x28 pixels feed [784] or
  /// [1, 28, 28], not [10].
  static Result<Batcher> create(const Dataset &data, std::vector<int64_t> exampleShape,
                                int64_t batchSize, uint64_t seed);

  /// Uses shuffledOrder(N, seed, epoch) as the order.
  void shuffle(uint64_t epoch);
  /// Uses 0..N-1 as the order (for evaluation).
  void inOrder();

  /// ceil(N / batchSize): the last partial batch is included.
  int64_t batchCount() const;
  /// Batch i of the current order: rows order[i*B .. min((i+1)*B, N)).
  Batch batch(int64_t i) const;
  /// Batch i into `out`, reusing its tensors when they have the batch's
  /// shape and nobody else holds them (a training loop's steady state:
  /// no allocation, and no page faults on fresh memory, per batch).
  void batchInto(int64_t i, Batch &out) const;
  const std::vector<int64_t> &order() const { return order_; }

private:
  Batcher(const Dataset &data, std::vector<int64_t> exampleShape, int64_t batchSize, uint64_t seed);
  /// The rows of batch i in the current order.
  std::span<const int64_t> rowsOf(int64_t i) const;

  const Dataset *data_;
  std::vector<int64_t> exampleShape_;
  int64_t batchSize_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

/// Gathers `rows` of `data` into a batch shaped [rows.size(), ...exampleShape];
/// exampleShape must have data.exampleElements() elements.
Batch gatherBatch(const Dataset &data, std::span<const int64_t> rows,
                  const std::vector<int64_t> &exampleShape);

/// Splits `d` deterministically into (training, held-out): round(N *
/// fraction) rows chosen by `seed` are held out, the rest kept for training;
/// both parts keep the rows' original order. An error when fraction is not
/// in (0, 1) or either part would be empty.
Result<std::pair<Dataset, Dataset>> splitHoldout(Dataset d, double fraction, uint64_t seed);

} // namespace nnc
