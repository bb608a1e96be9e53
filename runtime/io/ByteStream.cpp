/// Plain or gzipped data files as byte streams (runtime/io/ByteStream.h).
#include "runtime/io/ByteStream.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Text.h"

#include <algorithm>
#include <cstring>

namespace nnc {

Result<ByteStream> ByteStream::open(const std::string &path, bool gzip) {
  Result<std::string> bytes = readWholeFile(path, kMaxDataBytes);
  if (!bytes)
    return bytes.takeDiags();
  return fromBytes(path, std::move(*bytes), gzip);
}

Result<ByteStream> ByteStream::fromBytes(std::string name, std::string bytes, bool gzip) {
  const std::string &path = name;
  if (bytes.size() > kMaxDataBytes)
    return Result<ByteStream>::fail("{}: too large ({} bytes; the limit is {})", path, bytes.size(),
                                    kMaxDataBytes);
  ByteStream s;
  s.path_ = std::move(name);
  s.file_ = std::move(bytes);
  if (!gzip)
    return s;
  if (s.file_.size() < 2 || static_cast<unsigned char>(s.file_[0]) != 0x1f ||
      static_cast<unsigned char>(s.file_[1]) != 0x8b)
    return Result<ByteStream>::fail("{}: not a gzip file (the name ends in "
                                    ".gz but the bytes do not start with the "
                                    "gzip magic 1f 8b)",
                                    s.path_);
  s.zs_ = std::make_unique<ZStream>();
  // 15 + 16: a 32 KiB window, gzip wrapping only.
  if (inflateInit2(&s.zs_->z, 15 + 16) != Z_OK)
    return Result<ByteStream>::fail("{}: cannot start zlib", s.path_);
  return s;
}

void ByteStream::feed() {
  size_t piece = std::min<size_t>(unfed(), size_t(1) << 30);
  zs_->z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(file_.data() + fed_));
  zs_->z.avail_in = static_cast<uInt>(piece);
  fed_ += piece;
}

Result<size_t> ByteStream::read(char *dst, size_t n) {
  size_t got = 0;
  if (!zs_) {
    got = std::min(n, file_.size() - pos_);
    if (got > 0)
      std::memcpy(dst, file_.data() + pos_, got);
    pos_ += got;
  } else {
    Result<size_t> r = inflateInto(dst, n);
    if (!r)
      return r;
    got = *r;
  }
  produced_ += got;
  if (produced_ > kMaxDataBytes)
    return Result<size_t>::fail("{}: too large: more than 4 GiB of data{}", path_,
                                zs_ ? " after decompression" : "");
  return got;
}

Result<size_t> ByteStream::inflateInto(char *dst, size_t n) {
  using R = Result<size_t>;
  z_stream &z = zs_->z;
  size_t got = 0;
  while (got < n && !finished_) {
    if (z.avail_in == 0)
      feed();
    size_t want = std::min<size_t>(n - got, size_t(1) << 30);
    z.next_out = reinterpret_cast<Bytef *>(dst + got);
    z.avail_out = static_cast<uInt>(want);
    int rc = inflate(&z, Z_NO_FLUSH);
    got += want - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (as `cat a.gz b.gz` makes); trailing
      // zero bytes are padding, which gzip(1) ignores too.
      std::string_view rest(reinterpret_cast<const char *>(z.next_in), z.avail_in);
      rest = std::string_view(rest.data(), rest.size() + unfed());
      if (rest.find_first_not_of('\0') == std::string_view::npos) {
        finished_ = true;
      } else if (rest.size() >= 2 && static_cast<unsigned char>(rest[0]) == 0x1f &&
                 static_cast<unsigned char>(rest[1]) == 0x8b) {
        inflateReset(&z);
      } else {
        return R::fail("{}: corrupt gzip data: {} bytes of trailing garbage "
                       "after the compressed stream",
                       path_, rest.size());
      }
    } else if (rc == Z_BUF_ERROR && z.avail_in == 0 && unfed() == 0) {
      return R::fail("{}: truncated: the gzip stream ends early (after {} "
                     "decompressed bytes)",
                     path_, produced_ + got);
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return R::fail("{}: corrupt gzip data: {}", path_, z.msg ? z.msg : "inflate failed");
    }
  }
  return got;
}

} // namespace nnc
