/// The bytes of a data file, plain or gzip, read front to back with a
/// bound on their size (shared by the IDX and CSV readers, Dataset.cpp and
/// IdxFiles.cpp).
#pragma once

#include "ir/Result.h"

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>

namespace nnc {

/// No data file, compressed or not, may hold more than this.
constexpr uint64_t kMaxDataBytes = uint64_t(4) << 30;
/// Reads and conversions go in pieces of this size.
constexpr size_t kChunkBytes = size_t(1) << 20;

/// The bytes of a file, inflated when it is gzip data, read front to back.
/// Never yields more than kMaxDataBytes.
class ByteStream {
public:
  static Result<ByteStream> open(const std::string &path, bool gzip);
  /// The same over bytes already in memory; `name` starts every message.
  static Result<ByteStream> fromBytes(std::string name, std::string bytes, bool gzip);

  /// Reads up to `n` bytes into `dst`; fewer only at the end of the data.
  /// Errors: corrupt or truncated gzip data, more than kMaxDataBytes.
  Result<size_t> read(char *dst, size_t n);
  const std::string &path() const { return path_; }

private:
  struct ZStream {
    z_stream z{};
    ~ZStream() { inflateEnd(&z); }
  };

  Result<size_t> inflateInto(char *dst, size_t n);
  /// Gives zlib the next piece of the compressed bytes (avail_in is 32-bit).
  void feed();
  size_t unfed() const { return file_.size() - fed_; }

  std::string path_;
  std::string file_;
  size_t pos_ = 0; ///< plain files: the next byte to read
  std::unique_ptr<ZStream> zs_;
  size_t fed_ = 0; ///< compressed bytes handed to zlib so far
  bool finished_ = false;
  uint64_t produced_ = 0;
};

} // namespace nnc
