/// IDX image and label files (Fashion-MNIST's format, plain or gzip):
/// headers checked against each other and against the bytes that follow,
/// sizes bounded before anything is allocated (runtime/io/Dataset.h).
#include "runtime/io/ByteStream.h"
#include "runtime/io/Dataset.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>

namespace nnc {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kIdxImageMagic = 0x00000803;
constexpr uint32_t kIdxLabelMagic = 0x00000801;

/// Reads an IDX header: the magic number and `rank` big-endian u32 dims.
Result<std::vector<int64_t>> readIdxHeader(ByteStream &s, uint32_t magic, size_t rank,
                                           const char *kind) {
  using R = Result<std::vector<int64_t>>;
  std::array<unsigned char, 16> buf{};
  size_t want = 4 + 4 * rank;
  Result<size_t> got = s.read(reinterpret_cast<char *>(buf.data()), want);
  if (!got)
    return got.takeDiags();
  if (*got == 0)
    return R::fail("{}: empty file (expected an IDX {} file)", s.path(), kind);
  auto u32 = [&](size_t at) {
    return uint32_t(buf[at]) << 24 | uint32_t(buf[at + 1]) << 16 | uint32_t(buf[at + 2]) << 8 |
           uint32_t(buf[at + 3]);
  };
  if (*got >= 4 && u32(0) != magic)
    return R::fail("{}: bad magic 0x{:08x} (an IDX {} file starts with "
                   "0x{:08x})",
                   s.path(), u32(0), kind, magic);
  if (*got < want)
    return R::fail("{}: truncated: the file ends inside the IDX header ({} of "
                   "{} bytes)",
                   s.path(), *got, want);
  std::vector<int64_t> dims;
  for (size_t i = 0; i < rank; ++i)
    dims.push_back(u32(4 + 4 * i));
  return dims;
}

/// `60000 images of 28x28 (47040000 bytes)`.
/// `total` is the payload's size in bytes, already checked not to overflow.
std::string idxContents(const std::vector<int64_t> &dims, uint64_t total) {
  if (dims.size() == 1)
    return fmt::format("{} labels ({} bytes)", dims[0], total);
  return fmt::format("{} images of {}x{} ({} bytes)", dims[0], dims[1], dims[2], total);
}

/// Reads the `total` bytes after the header, then checks that nothing
/// follows. Memory grows with the bytes actually read, so a header that
/// promises gigabytes in a small file costs nothing.
Result<std::string> readIdxPayload(ByteStream &s, const std::vector<int64_t> &dims,
                                   uint64_t total) {
  using R = Result<std::string>;
  std::string payload;
  while (payload.size() < total) {
    size_t done = payload.size();
    size_t want = static_cast<size_t>(std::min<uint64_t>(total - done, kChunkBytes));
    payload.resize(done + want);
    Result<size_t> got = s.read(payload.data() + done, want);
    if (!got)
      return got.takeDiags();
    payload.resize(done + *got);
    if (*got < want)
      return R::fail("{}: truncated: the header says {} but only {} bytes "
                     "follow",
                     s.path(), idxContents(dims, total), payload.size());
  }
  char extra = 0;
  Result<size_t> more = s.read(&extra, 1);
  if (!more)
    return more.takeDiags();
  if (*more != 0)
    return R::fail("{}: size mismatch: the header says {} but more bytes "
                   "follow",
                   s.path(), idxContents(dims, total));
  return payload;
}

/// The file `base` or `base.gz` in `dir`, whichever exists (plain first).
std::optional<std::pair<std::string, bool>> findIdxFile(const std::string &dir,
                                                        const std::string &base) {
  std::error_code ec;
  fs::path plain = fs::path(dir) / base;
  if (fs::is_regular_file(plain, ec))
    return std::pair(plain.string(), false);
  fs::path gz = fs::path(dir) / (base + ".gz");
  if (fs::is_regular_file(gz, ec))
    return std::pair(gz.string(), true);
  return std::nullopt;
}

Result<Dataset> readIdxStreams(ByteStream &images, ByteStream &labels);

} // namespace

Result<Dataset> readIdxDirectory(const std::string &dir, bool test) {
  using R = Result<Dataset>;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return R::fail("{}: not a directory", dir);
  std::string prefix = test ? "t10k" : "train";
  std::string imagesBase = prefix + "-images-idx3-ubyte";
  std::string labelsBase = prefix + "-labels-idx1-ubyte";
  auto images = findIdxFile(dir, imagesBase);
  if (!images && test)
    return R::fail("{}: no test split: neither {} nor {}.gz is there", dir, imagesBase, imagesBase);
  if (!images)
    return R::fail("{}: not an IDX data directory: neither {} nor {}.gz is "
                   "there",
                   dir, imagesBase, imagesBase);
  auto labels = findIdxFile(dir, labelsBase);
  if (!labels)
    return R::fail("{}: neither {} nor {}.gz is there (the labels for {})", dir, labelsBase,
                   labelsBase, images->first);

  Result<ByteStream> is = ByteStream::open(images->first, images->second);
  if (!is)
    return is.takeDiags();
  Result<ByteStream> ls = ByteStream::open(labels->first, labels->second);
  if (!ls)
    return ls.takeDiags();
  return readIdxStreams(*is, *ls);
}

Result<Dataset> parseIdxPair(std::string_view images, std::string_view labels,
                             const std::string &imagesName, const std::string &labelsName) {
  Result<ByteStream> is = ByteStream::fromBytes(imagesName, std::string(images),
                                                std::string_view(imagesName).ends_with(".gz"));
  if (!is)
    return is.takeDiags();
  Result<ByteStream> ls = ByteStream::fromBytes(labelsName, std::string(labels),
                                                std::string_view(labelsName).ends_with(".gz"));
  if (!ls)
    return ls.takeDiags();
  return readIdxStreams(*is, *ls);
}

namespace {

/// An IDX image file and its label file, both opened.
Result<Dataset> readIdxStreams(ByteStream &is, ByteStream &ls) {
  using R = Result<Dataset>;
  Result<std::vector<int64_t>> idims = readIdxHeader(is, kIdxImageMagic, 3, "image");
  if (!idims)
    return idims.takeDiags();
  Result<std::vector<int64_t>> ldims = readIdxHeader(ls, kIdxLabelMagic, 1, "label");
  if (!ldims)
    return ldims.takeDiags();

  int64_t n = (*idims)[0], rows = (*idims)[1], cols = (*idims)[2];
  if (n == 0)
    return R::fail("{}: no examples: the header says 0 images", is.path());
  if (rows == 0 || cols == 0)
    return R::fail("{}: bad dimensions: images of {}x{}", is.path(), rows, cols);
  // Each dim is below 2^32, so n * rows fits in 64 bits; the third factor
  // may not, and a wrapped product would pass the size check.
  uint64_t pixels = static_cast<uint64_t>(n) * static_cast<uint64_t>(rows);
  bool overflows = __builtin_mul_overflow(pixels, static_cast<uint64_t>(cols), &pixels);
  if (overflows || pixels > kMaxDataBytes)
    return R::fail("{}: too large: the header says {} images of {}x{}, more "
                   "than 4 GiB",
                   is.path(), n, rows, cols);
  if ((*ldims)[0] != n)
    return R::fail("{}: {} labels, but {} has {} images", ls.path(), (*ldims)[0], is.path(), n);

  Result<std::string> pixelBytes = readIdxPayload(is, *idims, pixels);
  if (!pixelBytes)
    return pixelBytes.takeDiags();
  Result<std::string> labelBytes = readIdxPayload(ls, *ldims, static_cast<uint64_t>(n));
  if (!labelBytes)
    return labelBytes.takeDiags();

  std::array<float, 256> scale{};
  for (size_t b = 0; b < 256; ++b)
    scale[b] = static_cast<float>(b) / 255.0f;
  Tensor features(DType::F32, {n, rows, cols});
  float *f = features.f32();
  for (size_t i = 0; i < pixelBytes->size(); ++i)
    f[i] = scale[static_cast<unsigned char>((*pixelBytes)[i])];
  Tensor labelTensor(DType::I32, {n});
  for (size_t i = 0; i < labelBytes->size(); ++i)
    labelTensor.i32()[i] = static_cast<unsigned char>((*labelBytes)[i]);
  return Dataset{std::move(features), std::move(labelTensor), is.path(),
                 /*imagePixels=*/true, ls.path()};
}

} // namespace

bool hasIdxTestImages(const std::string &dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && findIdxFile(dir, "t10k-images-idx3-ubyte").has_value();
}

} // namespace nnc
