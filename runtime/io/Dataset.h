/// Labelled training data for `nnc train`: IDX directories (Fashion-MNIST,
/// MNIST), CSV files and .npy pairs, with deterministic shuffling, batching
/// and hold-out splits.
#pragma once

#include "ir/Result.h"
#include "runtime/Tensor.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nnc {

/// N examples in memory: features, and labels unless the model takes none.
struct Dataset {
  /// f32 [N, ...]: each example's features in the shape they were stored in
  /// (e.g. [N, 28, 28] for IDX images, [N, 64] for a CSV of 64 features);
  /// i32 [N, T] for text (bytes).
  Tensor features;
  /// i32 [N] class labels (each non-negative; i32 [N, T] for text, the next
  /// bytes), f32 [N, ...] targets (a regression's values), or empty when the
  /// model has no label input.
  Tensor labels;
  /// Where the data came from, for messages.
  std::string source;
  /// True for IDX images (pixels already scaled to [0, 1]).
  bool imagePixels = false;
  /// The file the labels came from, for messages (an IDX set's labels file);
  /// `source` when they share one.
  std::string labelSource;
  /// True for text (readTextWindows): losses are also reported per bit.
  bool textBytes = false;

  int64_t size() const { return features.rank() == 0 ? 0 : features.dim(0); }
  /// Elements per example: the product of the features' dims after the first.
  int64_t exampleElements() const;
  /// Label elements per example (1 for class labels, 0 without labels).
  int64_t labelElements() const;
  /// Where the labels came from.
  const std::string &labelsFrom() const { return labelSource.empty() ? source : labelSource; }
};

/// What a model's label input asks of a data set's labels.
struct LabelSpec {
  enum class Kind {
    None,    ///< the model has no label input: features only (an autoencoder)
    Classes, ///< an i32 input: one non-negative integer class per example
    /// An f32 input: `targetShape` values per example (a regression's
    /// targets); class labels also feed it, as numbers (one element) or
    /// one-hot rows (more).
    Targets,
  };
  Kind kind = Kind::Classes;
  std::vector<int64_t> targetShape; ///< Targets: the input's dims after the batch dim
  /// Features per example (the features input's dims after the batch dim,
  /// multiplied): tells a CSV's K target columns from a class column. 0 when
  /// not known, and then a CSV has one label column.
  int64_t featureElements = 0;

  /// Elements of `targetShape` (1 for Classes, 0 for None).
  int64_t targetElements() const;
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

/// Whether `dir` is a directory that holds the IDX test images
/// (t10k-images-idx3-ubyte, plain or .gz).
bool hasIdxTestImages(const std::string &dir);

/// Parses an IDX image file and its label file from bytes in memory, with
/// the checks of readIdxDirectory(); a name ending in `.gz` means gzip data.
/// The names start every message. Safe on arbitrary bytes.
Result<Dataset> parseIdxPair(std::string_view images, std::string_view labels,
                             const std::string &imagesName, const std::string &labelsName);

/// Reads a CSV of numbers, gzipped when the name ends in `.gz`: each row the
/// features, then the label columns `labels` asks for: one column holding a
/// non-negative integer class (Classes), K columns of f32 targets or one
/// class column (Targets; told apart by the count of feature columns), or
/// none. All rows have the same number of columns; blank lines are skipped;
/// a UTF-8 byte-order mark is skipped; a first row without a single number
/// is a header and skipped. Errors name the line and column, e.g.
/// `digits.csv:17: column 5: 'abc' is not a number`.
Result<Dataset> readCsv(const std::string &path, const LabelSpec &labels = {});

/// Parses the bytes of a whole CSV file as readCsv() does; `name` starts
/// every message, and a name ending in `.gz` means gzip data.
Result<Dataset> parseCsv(std::string_view bytes, const std::string &name,
                         const LabelSpec &labels = {});

/// Reads features (f32, rank >= 1) and labels from two .npy files whose first
/// dimensions agree: i32 [N] non-negative classes, or for Targets also f32
/// [N, ...] holding targetElements() values per example.
Result<Dataset> readNpyPair(const std::string &features, const std::string &labels,
                            const LabelSpec &spec = {});

/// `--data text:PATH`: a byte-level language-model data set from a text file
/// (or a folder's text files, by name, one after another: its regular files
/// that are not symlinks or `.dat` indexes, as Debian's fortunes). Examples
/// are the text's non-overlapping windows of `context` + 1 bytes: features
/// the first `context` bytes, labels the `context` bytes after the first
/// (i32 in [0, 256)). The last 5% of the bytes are the test split (`test`),
/// the rest the training split.
Result<Dataset> readTextWindows(const std::string &path, int64_t context, bool test);

/// The `--data` spec: a directory is an IDX directory, `A.npy,B.npy` a .npy
/// pair (`A.npy` alone when the model takes no labels), anything else a CSV
/// file, `text:PATH` text (readTextWindows(), T from `labels.featureElements`).
/// With `test`, the held-out split, which an IDX directory with t10k files
/// and text have; for anything else the error says there is no test split
/// (see hasTestSplit()). IDX labels are classes; without a label input they
/// are dropped.
Result<Dataset> loadDataset(const std::string &spec, bool test, const LabelSpec &labels = {});

/// Whether loadDataset(spec, true) would find a test split (an IDX directory
/// holding a t10k image file), so that callers can treat it as optional
/// without mistaking a corrupt test file for a missing one.
bool hasTestSplit(const std::string &spec);

/// A permutation of 0..n-1 that depends only on (n, seed, epoch), the same on
/// every machine: SplitMix64 and Fisher-Yates, no standard-library
/// distributions.
std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, uint64_t epoch);

/// One batch: features f32 [B, ...exampleShape] and the labels of its rows
/// (i32 [B], f32 [B, ...], or empty), as the dataset holds them.
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
  /// no allocation, and no page faults on fresh memory, per batch). With a
  /// pool, the rows are copied in parallel (the gather of random rows from
  /// a large data set waits on memory: on 2 threads it was a tenth of the
  /// Fashion MLP's step).
  void batchInto(int64_t i, Batch &out, ThreadPool *pool = nullptr) const;
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
