/// Atomic writes (temp file, fsync, rename) and bounded whole-file reads.
#include "runtime/io/AtomicFile.h"

#include "runtime/Interrupts.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
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

bool isStaleTempFile(const std::string &path) {
  std::string name = std::filesystem::path(path).filename().string();
  size_t at = name.rfind(".tmp.");
  if (at == std::string::npos)
    return false;
  std::string_view rest = std::string_view(name).substr(at + 5);
  long pid = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || (end != rest.data() + rest.size() && *end != '.'))
    return false;
  if (pid == ::getpid())
    return !isOwnTempFile(path);
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

void removeStaleTempFiles(const std::string &path) {
  std::filesystem::path p(path);
  std::string prefix = p.filename().string() + ".tmp.";
  std::filesystem::path dir = p.parent_path().empty() ? "." : p.parent_path();
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && isStaleTempFile(entry.path().string()))
      std::filesystem::remove(entry.path(), ec);
  }
}

namespace {

/// A temporary written and synced beside its target, removed unless
/// committed (and on a signal meanwhile).
class PendingFile {
public:
  explicit PendingFile(const std::string &path) : path_(path) {
    static std::atomic<uint64_t> serial{0};
    tmp_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial++);
  }
  ~PendingFile() {
    if (!tmp_.empty() && written_)
      ::unlink(tmp_.c_str());
  }
  PendingFile(const PendingFile &) = delete;
  PendingFile &operator=(const PendingFile &) = delete;

  Status write(std::string_view bytes, unsigned mode) {
    // The rename would replace whatever is there: refuse what is not a file
    // (as root, `-o /dev/full` would otherwise swap the device for a file).
    struct stat st;
    if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
      return Status::fail("{}: cannot write: not a regular file (a device, pipe or folder; "
                          "nnc replaces its output files whole)",
                          path_);
    installInterruptHandlers();
    removeStaleTempFiles(path_);
    int fd = open(mode);
    if (fd < 0 && errno == EEXIST) {
      // Not ours (the serial is new in this process): a leftover of a killed
      // process that had our PID. Remove it and create ours.
      ::unlink(tmp_.c_str());
      fd = open(mode);
    }
    if (fd < 0)
      return Status::fail("{}: cannot write: {}", path_, std::strerror(errno));
    written_ = true;
    registration_ = std::make_unique<TempFileRegistration>(tmp_);
    int err = writeAll(fd, bytes);
    if (err == 0 && ::fsync(fd) != 0)
      err = errno;
    if (::close(fd) != 0 && err == 0)
      err = errno;
    if (err != 0)
      return Status::fail("{}: cannot write: {}", path_, std::strerror(err));
    return Ok{};
  }

  Status commit() {
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
      return Status::fail("{}: cannot write: {}", path_, std::strerror(errno));
    written_ = false;
    syncDirectoryOf(path_);
    return Ok{};
  }

private:
  /// Creates the temporary, exclusively and without following a symlink.
  int open(unsigned mode) const {
    return ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  static_cast<mode_t>(mode));
  }

  std::string path_, tmp_;
  bool written_ = false;
  std::unique_ptr<TempFileRegistration> registration_;
};

} // namespace

Status writeFileAtomically(const std::string &path, std::string_view bytes, unsigned mode) {
  PendingFile file(path);
  if (Status s = file.write(bytes, mode); !s)
    return s;
  return file.commit();
}

Status writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files,
                            unsigned mode) {
  std::vector<std::unique_ptr<PendingFile>> pending;
  for (const auto &[path, bytes] : files) {
    pending.push_back(std::make_unique<PendingFile>(path));
    if (Status s = pending.back()->write(bytes, mode); !s)
      return s;
  }
  for (auto &file : pending)
    if (Status s = file->commit(); !s)
      return s;
  return Ok{};
}

Status checkOutputPath(const std::string &path, OutputKind kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty())
    return Status::fail("an output path is empty");
  if (fs::is_directory(path, ec))
    return Status::fail("{}: cannot write: it is a directory", path);
  fs::path dir = fs::path(path).parent_path();
  std::string folder = dir.empty() ? "." : dir.string();
  if (!fs::exists(folder, ec))
    return Status::fail("{}: cannot write: the folder '{}' does not exist", path, folder);
  if (!fs::is_directory(folder, ec))
    return Status::fail("{}: cannot write: '{}' is not a folder", path, folder);
  if (kind == OutputKind::InPlace && fs::exists(path, ec)) {
    if (::access(path.c_str(), W_OK) != 0)
      return Status::fail("{}: cannot write: {}", path, std::strerror(errno));
    return Ok{};
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    return Status::fail("{}: cannot write: the folder '{}' is not writable: {}", path, folder,
                        std::strerror(errno));
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
