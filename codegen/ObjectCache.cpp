/// The on-disk object cache: a folder checked like ~/.ssh, entries that
/// carry their key and checksum, least-recently-used eviction.
#include "codegen/ObjectCache.h"

#include "runtime/io/AtomicFile.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace nnc {

namespace fs = std::filesystem;

std::string objectCacheDirectory() {
  if (const char *dir = std::getenv("NNC_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/nnc";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/nnc";
  return "";
}

uint64_t objectCacheLimitBytes() {
  constexpr double kDefaultMb = 512;
  double mb = kDefaultMb;
  if (const char *text = std::getenv("NNC_CACHE_MAX_MB"); text && *text) {
    char *end = nullptr;
    double v = std::strtod(text, &end);
    if (end != text && *end == '\0' && v >= 0)
      mb = std::min(v, 1e12); // a petabyte is "no limit" (and fits the conversion)
  }
  return static_cast<uint64_t>(mb * 1024 * 1024);
}

namespace {

/// Prints `nnc: warning: MESSAGE` on stderr, once per message and process.
void warnOnce(const std::string &message) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(mutex);
  if (said.insert(message).second)
    std::fprintf(stderr, "nnc: warning: %s\n", message.c_str());
}

/// Why a folder others could replace or write into may not hold the cache:
/// an ancestor must be owned by root or the user, and writable by others
/// only with the sticky bit (as /tmp).
std::string ancestorProblem(const fs::path &dir) {
  fs::path absolute = fs::absolute(dir).lexically_normal();
  for (fs::path p = absolute.parent_path();; p = p.parent_path()) {
    struct stat link = {}, st = {};
    // A symlink on the way is as good as its owner (who could repoint it),
    // and leads to a folder that must pass the same checks.
    if (::lstat(p.c_str(), &link) == 0 && S_ISLNK(link.st_mode) && link.st_uid != 0 &&
        link.st_uid != ::geteuid())
      return fmt::format("its parent {} is a symlink of another user (uid {})", p.string(),
                         link.st_uid);
    if (::stat(p.c_str(), &st) == 0) {
      if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return fmt::format("its parent folder {} belongs to another user (uid {})", p.string(),
                           st.st_uid);
      if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return fmt::format("its parent folder {} is writable by others (mode {:04o})", p.string(),
                           st.st_mode & 07777);
    }
    if (p == p.parent_path())
      return "";
  }
}

/// Creates `dir` and any missing folders above it, each 0700.
bool createPrivateFolders(const fs::path &dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    return true;
  if (dir.has_parent_path() && dir.parent_path() != dir && !createPrivateFolders(dir.parent_path()))
    return false;
  return ::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST;
}

/// The cache folder, created if missing, or "" (with a warning) when it
/// may not be used.
std::string usableCacheFolder() {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return "";
  if (std::string problem = objectCacheFolderProblem(dir); !problem.empty()) {
    warnOnce(fmt::format("not using the compile cache {}: {}; compiling without it", dir, problem));
    return "";
  }
  if (!createPrivateFolders(dir))
    return "";
  // It exists now: check what was made (a race may have put something else there).
  if (std::string problem = objectCacheFolderProblem(dir); !problem.empty()) {
    warnOnce(fmt::format("not using the compile cache {}: {}; compiling without it", dir, problem));
    return "";
  }
  return dir;
}

std::string entryPath(const std::string &dir, const std::string &key, size_t part, size_t count) {
  return dir + "/" + key + "-" + std::to_string(part) + "of" + std::to_string(count) + ".o";
}

constexpr const char *kEntryMagic = "nnc-cache-entry 1\n";
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

std::string sha256Hex(const std::string &bytes) {
  llvm::SHA256 hash;
  hash.update(llvm::StringRef(bytes));
  return llvm::toHex(hash.final(), true);
}

/// Reads an entry file without following a symlink, if it is a regular
/// file of this user: the checks and the read go through one descriptor,
/// so what is checked is what is read. nullopt and a reason otherwise; a
/// missing file is reported by `missing`.
std::optional<std::string> readEntryFile(const std::string &path, bool &missing,
                                         std::string &problem) {
  missing = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    missing = errno == ENOENT;
    problem = errno == ELOOP ? "it is a symlink" : std::strerror(errno);
    return std::nullopt;
  }
  struct stat st = {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
            static_cast<uint64_t>(st.st_size) <= kMaxEntryBytes;
  std::string bytes(ok ? static_cast<size_t>(st.st_size) : 0, '\0');
  size_t got = 0;
  while (ok && got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (!ok) {
    problem = "not a regular file of this user within the size limit";
    return std::nullopt;
  }
  bytes.resize(got); // a file that shrank reads as truncated
  return bytes;
}

/// The `count` objects of `key`'s entry of that many parts: nullopt when
/// the entry is not there; a damaged entry is removed, with a warning.
std::optional<std::vector<std::string>> readEntry(const std::string &dir, const std::string &key,
                                                  unsigned count) {
  std::vector<std::string> objects;
  for (unsigned part = 0; part < count; ++part) {
    std::string path = entryPath(dir, key, part, count), problem;
    bool missing = false;
    std::optional<std::string> bytes = readEntryFile(path, missing, problem);
    std::optional<std::string> object;
    if (bytes)
      object = decodeCacheEntry(*bytes, key, part, count, problem);
    if (!object) {
      // A missing part is a miss, not damage: another process may be storing
      // the entry (part 0 comes last) or have evicted it.
      if (!missing)
        discardCachedObjects(key, count, problem);
      return std::nullopt;
    }
    objects.push_back(std::move(*object));
  }
  // A hit makes the entry the most recently used (eviction goes by time).
  std::error_code ec;
  for (unsigned part = 0; part < count; ++part)
    fs::last_write_time(entryPath(dir, key, part, count), fs::file_time_type::clock::now(), ec);
  return objects;
}

/// One entry of the cache folder (all parts of a key's object set), or one
/// temp file.
struct CacheItem {
  fs::file_time_type used; ///< the latest write or read of its files (a hit touches them)
  uint64_t bytes = 0;
  std::vector<fs::path> files;
  bool removable = true; ///< false for a temp file of a process still writing it
};

/// The entry a file of the cache belongs to: its name without the part,
/// `KEY-` and `ofN.o` (parts of one entry go together), or the file's own
/// name for anything else.
std::string itemOf(const std::string &name) {
  size_t dash = name.rfind('-'), of = name.rfind("of");
  if (name.size() > 2 && name.ends_with(".o") && dash != std::string::npos && of > dash)
    return name.substr(0, dash + 1) + name.substr(of);
  return name;
}

/// Removes the least recently used entries of `dir`, whole (every part),
/// while the folder holds more than `limit` bytes, down to 90% of it (so that
/// the next stores do not scan again at once). Temp files count too; those
/// of processes that no longer write them are removed first. Files another
/// process removes or holds open meanwhile are only a cache miss for someone.
void evictLeastRecentlyUsed(const std::string &dir, uint64_t limit) {
  std::error_code ec;
  std::map<std::string, CacheItem> items;
  uint64_t total = 0;
  for (const fs::directory_entry &e : fs::directory_iterator(dir, ec)) {
    std::error_code statError;
    if (!e.is_regular_file(statError))
      continue;
    std::string name = e.path().filename().string();
    bool temp = name.find(".tmp.") != std::string::npos;
    if (temp && isStaleTempFile(e.path().string())) {
      fs::remove(e.path(), statError);
      continue;
    }
    uint64_t bytes = e.file_size(statError);
    fs::file_time_type used = e.last_write_time(statError);
    if (statError)
      continue;
    CacheItem &item = items[temp ? name : itemOf(name)];
    item.used = item.files.empty() ? used : std::max(item.used, used);
    item.bytes += bytes;
    item.files.push_back(e.path());
    item.removable = !temp;
    total += bytes;
  }
  if (ec || total <= limit)
    return;
  std::vector<const CacheItem *> byAge;
  for (const auto &[name, item] : items)
    byAge.push_back(&item);
  std::sort(byAge.begin(), byAge.end(),
            [](const CacheItem *a, const CacheItem *b) { return a->used < b->used; });
  for (const CacheItem *item : byAge) {
    if (total <= limit / 10 * 9)
      break;
    if (!item->removable)
      continue;
    for (const fs::path &f : item->files)
      fs::remove(f, ec);
    total -= item->bytes;
  }
}

} // namespace

std::string objectCacheFolderProblem(const std::string &dir) {
  struct stat st = {};
  if (::lstat(dir.c_str(), &st) != 0)
    return errno == ENOENT ? ancestorProblem(dir) : std::string(std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    return "it is a symlink";
  if (!S_ISDIR(st.st_mode))
    return "it is not a folder";
  if (st.st_uid != ::geteuid())
    return fmt::format("it belongs to another user (uid {}, not {})", st.st_uid, ::geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fmt::format("it is writable by others (mode {:04o}; chmod 700 it)", st.st_mode & 07777);
  return ancestorProblem(dir);
}

std::string encodeCacheEntry(const std::string &key, unsigned part, unsigned count,
                             const std::string &object) {
  return fmt::format("{}key {}\npart {} of {}\nbytes {}\nsha256 {}\n\n", kEntryMagic, key, part,
                     count, object.size(), sha256Hex(object)) +
         object;
}

std::optional<std::string> decodeCacheEntry(const std::string &bytes, const std::string &key,
                                            unsigned part, unsigned count, std::string &problem) {
  size_t end = bytes.find("\n\n");
  if (bytes.rfind(kEntryMagic, 0) != 0 || end == std::string::npos || end > 512) {
    problem = "it is not a cache entry of this nnc";
    return std::nullopt;
  }
  std::string header = bytes.substr(0, end + 1);
  std::string object = bytes.substr(end + 2);
  std::string expected = sha256Hex(object);
  if (header.find("\nkey " + key + "\n") == std::string::npos) {
    problem = "it holds another model's code (its key differs)";
  } else if (header.find(fmt::format("\npart {} of {}\n", part, count)) == std::string::npos) {
    problem = "it holds another part of the entry";
  } else if (header.find(fmt::format("\nbytes {}\n", object.size())) == std::string::npos) {
    problem = "it is truncated";
  } else if (header.find("\nsha256 " + expected + "\n") == std::string::npos) {
    problem = "its checksum does not match its bytes";
  } else {
    return object;
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> readCachedObjects(const std::string &key,
                                                          unsigned maxCount) {
  std::string dir = usableCacheFolder();
  if (dir.empty())
    return std::nullopt;
  for (unsigned count = maxCount; count >= 1; --count)
    if (auto objects = readEntry(dir, key, count))
      return objects;
  return std::nullopt;
}

void storeCachedObjects(const std::string &key, const std::vector<std::string> &objects) {
  std::string dir = usableCacheFolder();
  if (dir.empty())
    return;
  auto count = static_cast<unsigned>(objects.size());
  // Part 0 last: a reader that finds it finds the others (readers start there).
  for (unsigned part = count; part-- > 0;)
    if (!writeFileAtomically(entryPath(dir, key, part, count),
                             encodeCacheEntry(key, part, count, objects[part]), 0600))
      return;
  evictLeastRecentlyUsed(dir, objectCacheLimitBytes());
}

void discardCachedObjects(const std::string &key, unsigned count, const std::string &why) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return;
  std::error_code ec;
  for (unsigned part = 0; part < count; ++part)
    fs::remove(entryPath(dir, key, part, count), ec);
  warnOnce(fmt::format("compile cache entry {}... in {} was damaged ({}): removed; compiling "
                       "again",
                       key.substr(0, 12), dir, why));
}

} // namespace nnc
