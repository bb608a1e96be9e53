/// Atomic writes (temp file, fsync, rename) and bounded whole-file reads.
#include "runtime/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace nnc {

namespace {

int writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t put = ::write(fd, bytes.data(), bytes.size());
    if (put < 0 && errno == EINTR)
      continue;
    if (put < 0)
      return errno;
    bytes.remove_prefix(static_cast<size_t>(put));
  }
  return 0;
}

void syncDirectoryOf(const std::string &path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  ::fsync(fd);
  ::close(fd);
}

} // namespace

Status writeFileAtomically(const std::string &path, std::string_view bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0)
    return Status::fail("{}: cannot write: {}", path, std::strerror(errno));
  int err = writeAll(fd, bytes);
  if (err == 0 && ::fsync(fd) != 0)
    err = errno;
  if (::close(fd) != 0 && err == 0)
    err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0)
    err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return Status::fail("{}: cannot write: {}", path, std::strerror(err));
  }
  syncDirectoryOf(path);
  return Ok{};
}

Result<std::string> readWholeFile(const std::string &path, uint64_t maxBytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Result<std::string>::fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st = {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Result<std::string>::fail("{}: not a regular file", path);
  }
  if (static_cast<uint64_t>(st.st_size) > maxBytes) {
    ::close(fd);
    return Result<std::string>::fail("{}: too large ({} bytes; the limit is {})", path, st.st_size,
                                     maxBytes);
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : 0;
      ::close(fd);
      return Result<std::string>::fail("{}: cannot read: {}", path,
                                       e ? std::strerror(e) : "file shrank while reading");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return data;
}

} // namespace nnc
