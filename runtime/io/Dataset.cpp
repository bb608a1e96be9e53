/// Training data readers: CSV and .npy pairs, and the dispatch by data
/// spec, all bounded and strict. IDX files are runtime/io/IdxFiles.cpp, the
/// plain-or-gzip byte streams runtime/io/ByteStream.cpp; shuffling,
/// batching and hold-out splits runtime/io/Batcher.cpp.
#include "runtime/io/Dataset.h"

#include "runtime/io/ByteStream.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Text.h"
#include "runtime/io/Npy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

namespace nnc {

namespace fs = std::filesystem;

namespace {

/// At most this many feature values in a CSV (4 GiB of f32).
constexpr uint64_t kMaxCsvValues = uint64_t(1) << 30;
/// A CSV line may be at most this long.
constexpr size_t kMaxLineBytes = size_t(64) << 20;

// ---- CSV files -------------------------------------------------------------

/// Splits a ByteStream into lines (without '\n' or "\r\n").
class LineReader {
public:
  explicit LineReader(ByteStream &s) : s_(s) {}

  /// The next line in `line` (valid until the next call); false at the end.
  Result<bool> next(std::string_view &line) {
    for (;;) {
      size_t nl = buf_.find('\n', scan_);
      if (nl != std::string::npos || (eof_ && pos_ < buf_.size())) {
        size_t end = nl == std::string::npos ? buf_.size() : nl;
        line = std::string_view(buf_).substr(pos_, end - pos_);
        if (!line.empty() && line.back() == '\r')
          line.remove_suffix(1);
        pos_ = scan_ = end + (nl != std::string::npos);
        ++lineNo_;
        return true;
      }
      if (eof_)
        return false;
      scan_ = buf_.size();
      if (scan_ - pos_ > kMaxLineBytes)
        return Result<bool>::fail("{}:{}: line longer than {} MiB", s_.path(), lineNo_ + 1,
                                  kMaxLineBytes >> 20);
      buf_.erase(0, pos_);
      scan_ -= pos_;
      pos_ = 0;
      size_t old = buf_.size();
      buf_.resize(old + kChunkBytes);
      Result<size_t> got = s_.read(buf_.data() + old, kChunkBytes);
      if (!got)
        return got.takeDiags();
      buf_.resize(old + *got);
      eof_ = *got < kChunkBytes;
    }
  }
  /// The 1-based number of the line next() returned last.
  int64_t lineNo() const { return lineNo_; }

private:
  ByteStream &s_;
  std::string buf_;
  size_t pos_ = 0;  ///< start of the next line
  size_t scan_ = 0; ///< where to look for the next '\n'
  bool eof_ = false;
  int64_t lineNo_ = 0;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Parses a whole field as a number of type T; the reason when it is not.
template <typename T> std::optional<std::string> parseNumber(std::string_view field, T &out) {
  std::string_view s = field;
  if (s.size() > 1 && s[0] == '+' && s[1] != '-')
    s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range && end == s.data() + s.size())
    return fmt::format("'{}' is out of range", printable(field));
  if (ec != std::errc() || end != s.data() + s.size())
    return fmt::format("'{}' is not a number", printable(field));
  if (!std::isfinite(out))
    return fmt::format("'{}' is not a finite number", printable(field));
  return std::nullopt;
}

Result<Dataset> noTestSplit(const std::string &spec) {
  return Result<Dataset>::fail("{}: no test split (only an IDX directory with "
                               "t10k files and text: have one)",
                               spec);
}

Result<Dataset> readCsvStream(ByteStream &stream, const LabelSpec &spec);

} // namespace

int64_t Dataset::exampleElements() const {
  int64_t n = 1;
  for (size_t i = 1; i < features.rank(); ++i)
    n *= features.dim(i);
  return n;
}

int64_t Dataset::labelElements() const {
  if (labels.empty())
    return 0;
  int64_t n = 1;
  for (size_t i = 1; i < labels.rank(); ++i)
    n *= labels.dim(i);
  return n;
}

int64_t LabelSpec::targetElements() const {
  if (kind == Kind::None)
    return 0;
  int64_t n = 1;
  if (kind == Kind::Targets)
    for (int64_t d : targetShape)
      n *= d;
  return n;
}

// ---- CSV -------------------------------------------------------------------

Result<Dataset> readCsv(const std::string &path, const LabelSpec &labels) {
  Result<ByteStream> s = ByteStream::open(path, std::string_view(path).ends_with(".gz"));
  if (!s)
    return s.takeDiags();
  return readCsvStream(*s, labels);
}

Result<Dataset> parseCsv(std::string_view bytes, const std::string &name, const LabelSpec &labels) {
  Result<ByteStream> s =
      ByteStream::fromBytes(name, std::string(bytes), std::string_view(name).ends_with(".gz"));
  if (!s)
    return s.takeDiags();
  return readCsvStream(*s, labels);
}

namespace {

/// The label columns of a CSV whose rows have `columns` cells, and whether
/// they hold one class (else f32 targets).
struct CsvLabels {
  size_t columns = 0;
  bool isClass = false;
};

Result<CsvLabels> csvLabelColumns(const LabelSpec &spec, size_t columns, const std::string &where) {
  using R = Result<CsvLabels>;
  switch (spec.kind) {
  case LabelSpec::Kind::None:
    return CsvLabels{0, false};
  case LabelSpec::Kind::Classes:
    if (columns < 2)
      return R::fail("{}: {} column; a row needs at least one feature and a label", where, columns);
    return CsvLabels{1, true};
  case LabelSpec::Kind::Targets:
    break;
  }
  auto k = static_cast<size_t>(spec.targetElements());
  auto f = static_cast<size_t>(spec.featureElements);
  if (k == 1 || f == 0 || columns == f + k) {
    if (columns <= k)
      return R::fail("{}: {} columns; a row needs at least one feature and {} target{}", where,
                     columns, k, k == 1 ? "" : "s");
    return CsvLabels{k, false};
  }
  if (columns == f + 1)
    return CsvLabels{1, true};
  return R::fail("{}: {} columns, but the model takes {} features and {} targets ({} columns) or "
                 "{} features and a class label ({} columns)",
                 where, columns, f, k, f + k, f, f + 1);
}

/// Splits a CSV line into trimmed fields.
void splitFields(std::string_view line, std::vector<std::string_view> &fields) {
  fields.clear();
  for (size_t start = 0;;) {
    size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
}

/// A header row: not a single cell is a number.
bool isHeaderRow(const std::vector<std::string_view> &fields) {
  for (std::string_view f : fields) {
    double v = 0;
    if (!parseNumber(f, v))
      return false;
  }
  return true;
}

/// A cell that starts like a column name (a letter or '_') and is no number
/// (not even `nan` or `inf`).
bool looksLikeName(std::string_view field) {
  double v = 0;
  return !field.empty() &&
         (std::isalpha(static_cast<unsigned char>(field[0])) || field[0] == '_') &&
         std::from_chars(field.data(), field.data() + field.size(), v).ec != std::errc();
}

/// Parses a class label cell: a non-negative integer.
std::optional<std::string> parseClass(std::string_view field, int32_t &out) {
  double label = 0;
  if (auto why = parseNumber(field, label))
    return why;
  if (label < 0 || label != std::floor(label) || label > std::numeric_limits<int32_t>::max())
    return fmt::format("label '{}' is not a non-negative integer", printable(field));
  out = static_cast<int32_t>(label);
  return std::nullopt;
}

Result<Dataset> readCsvStream(ByteStream &stream, const LabelSpec &spec) {
  using R = Result<Dataset>;
  const std::string &path = stream.path();
  LineReader lines(stream);
  std::vector<float> features, targets;
  std::vector<int32_t> classes;
  size_t columns = 0;
  CsvLabels labelColumns;
  std::vector<std::string_view> fields;
  std::string_view line;
  bool firstRow = true;
  for (;;) {
    Result<bool> more = lines.next(line);
    if (!more)
      return more.takeDiags();
    if (!*more)
      break;
    if (lines.lineNo() == 1 && line.starts_with("\xEF\xBB\xBF"))
      line.remove_prefix(3); // a UTF-8 byte-order mark
    if (trim(line).empty())
      continue;
    int64_t lineNo = lines.lineNo();
    splitFields(line, fields);
    if (firstRow && isHeaderRow(fields)) {
      firstRow = false;
      continue;
    }
    if (columns == 0) {
      columns = fields.size();
      auto found = csvLabelColumns(spec, columns, fmt::format("{}:{}", path, lineNo));
      if (!found)
        return found.takeDiags();
      labelColumns = *found;
    }
    if (fields.size() != columns)
      return R::fail("{}:{}: {} columns, but the first row has {}", path, lineNo, fields.size(),
                     columns);
    size_t featureColumns = columns - labelColumns.columns;
    if (features.size() + featureColumns > kMaxCsvValues)
      return R::fail("{}:{}: too large: more than 2^30 feature values", path, lineNo);
    bool mayBeHeader = firstRow;
    firstRow = false;
    for (size_t c = 0; c < columns; ++c) {
      float v = 0;
      int32_t label = 0;
      std::optional<std::string> why;
      if (c < featureColumns) {
        why = parseNumber(fields[c], v);
        features.push_back(v);
      } else if (labelColumns.isClass) {
        why = parseClass(fields[c], label);
        classes.push_back(label);
      } else {
        why = parseNumber(fields[c], v);
        targets.push_back(v);
      }
      // A name in a first row that also holds numbers: a header gone wrong.
      const char *hint =
          mayBeHeader && looksLikeName(fields[c]) ? " (a header row must have no numbers)" : "";
      if (why)
        return R::fail("{}:{}: column {}: {}{}", path, lineNo, c + 1, *why, hint);
    }
  }
  if (columns == 0)
    return R::fail("{}: no examples: the file has no rows", path);
  auto n = static_cast<int64_t>(features.size() / (columns - labelColumns.columns));
  auto c = static_cast<int64_t>(columns - labelColumns.columns);
  Dataset d{Tensor::f32({n, c}, features), Tensor(), path, /*imagePixels=*/false, ""};
  if (labelColumns.isClass) {
    d.labels = Tensor::i32({n}, classes);
  } else if (labelColumns.columns > 0) {
    // The label input's per-example shape (none for f32[B]), when it is
    // what the columns hold; else the columns as they are.
    std::vector<int64_t> shape{n};
    if (spec.targetElements() == static_cast<int64_t>(labelColumns.columns))
      shape.insert(shape.end(), spec.targetShape.begin(), spec.targetShape.end());
    else
      shape.push_back(static_cast<int64_t>(labelColumns.columns));
    d.labels = Tensor::f32(shape, targets);
  }
  return d;
}

} // namespace

// ---- .npy pairs ------------------------------------------------------------

namespace {

Result<Tensor> readNpyFeatures(const std::string &path) {
  using R = Result<Tensor>;
  Result<Tensor> features = readNpy(path);
  if (!features)
    return features;
  if (features->dtype() != DType::F32)
    return R::fail("{}: features must be f32 (<f4), found {}; convert with "
                   ".astype(numpy.float32)",
                   path, features->typeString());
  if (features->rank() == 0)
    return R::fail("{}: features must have a first dimension of examples, found {}", path,
                   features->typeString());
  if (features->dim(0) == 0)
    return R::fail("{}: no examples: the features have 0 rows", path);
  return features;
}

/// Checks i32 class labels: shape [N], none negative.
Status checkNpyClasses(const Tensor &labels, const std::string &path) {
  if (labels.rank() != 1)
    return Status::fail("{}: labels must have shape [N], found {}", path, labels.typeString());
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (labels.i32()[i] < 0)
      return Status::fail("{}: row {}: label {} is negative", path, i, labels.i32()[i]);
  return Ok{};
}

/// f32 targets [N, ...] reshaped to [N, ...targetShape].
Result<Tensor> npyTargets(const Tensor &labels, const std::string &path, const LabelSpec &spec) {
  int64_t per = labels.rank() == 0 ? 0 : labels.numel() / std::max<int64_t>(labels.dim(0), 1);
  if (labels.rank() == 0 || per != spec.targetElements())
    return Result<Tensor>::fail("{}: targets must be f32 [N, ...] with {} values per example (the "
                                "model's label input), found {}",
                                path, spec.targetElements(), labels.typeString());
  std::vector<int64_t> shape{labels.dim(0)};
  shape.insert(shape.end(), spec.targetShape.begin(), spec.targetShape.end());
  return Tensor::f32(shape, std::span<const float>(labels.f32(), labels.numel()));
}

} // namespace

Result<Dataset> readNpyPair(const std::string &featuresPath, const std::string &labelsPath,
                            const LabelSpec &spec) {
  using R = Result<Dataset>;
  Result<Tensor> features = readNpyFeatures(featuresPath);
  if (!features)
    return features.takeDiags();
  Dataset d{std::move(*features), Tensor(), featuresPath + "," + labelsPath,
            /*imagePixels=*/false, labelsPath};
  if (spec.kind == LabelSpec::Kind::None)
    return d;
  Result<Tensor> labels = readNpy(labelsPath);
  if (!labels)
    return labels.takeDiags();
  if (labels->rank() == 0 || labels->dim(0) != d.features.dim(0))
    return R::fail("{}: {} labels, but {} has {} rows", labelsPath,
                   labels->rank() == 0 ? 1 : labels->dim(0), featuresPath, d.features.dim(0));
  if (labels->dtype() == DType::F32 && spec.kind == LabelSpec::Kind::Targets) {
    auto targets = npyTargets(*labels, labelsPath, spec);
    if (!targets)
      return targets.takeDiags();
    d.labels = std::move(targets).value();
    return d;
  }
  if (labels->dtype() != DType::I32)
    return R::fail("{}: labels must be i32 (<i4), found {}; convert with .astype(numpy.int32)",
                   labelsPath, labels->typeString());
  if (Status s = checkNpyClasses(*labels, labelsPath); !s)
    return s.takeDiags();
  d.labels = std::move(labels).value();
  return d;
}

// ---- dispatch --------------------------------------------------------------

Result<Dataset> loadDataset(const std::string &spec, bool test, const LabelSpec &labels) {
  std::error_code ec;
  bool withLabels = labels.kind != LabelSpec::Kind::None;
  if (std::string_view(spec).starts_with("text:"))
    return readTextWindows(spec.substr(5), labels.featureElements, test);
  if (fs::is_directory(spec, ec)) {
    Result<Dataset> d = readIdxDirectory(spec, test);
    if (d && !withLabels)
      d->labels = Tensor();
    return d;
  }
  if (test)
    return noTestSplit(spec);
  size_t comma = spec.find(',');
  if (comma != std::string::npos && !fs::exists(spec, ec)) {
    std::string a = spec.substr(0, comma), b = spec.substr(comma + 1);
    if (a.empty() || b.empty() || b.find(',') != std::string::npos)
      return Result<Dataset>::fail("{}: expected FEATURES.npy,LABELS.npy", spec);
    return readNpyPair(a, b, labels);
  }
  if (std::string_view(spec).ends_with(".npy")) {
    if (withLabels)
      return Result<Dataset>::fail("{}: a .npy dataset is two files: FEATURES.npy,LABELS.npy "
                                   "(one file only for a model without a label input)",
                                   spec);
    Result<Tensor> features = readNpyFeatures(spec);
    if (!features)
      return features.takeDiags();
    return Dataset{std::move(*features), Tensor(), spec, /*imagePixels=*/false, ""};
  }
  return readCsv(spec, labels);
}

bool hasTestSplit(const std::string &spec) {
  if (std::string_view(spec).starts_with("text:"))
    return true;
  return hasIdxTestImages(spec);
}

} // namespace nnc
