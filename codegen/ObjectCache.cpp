/// The on-disk object cache.
#include "codegen/ObjectCache.h"

#include "runtime/AtomicFile.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace nnc {

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
      mb = v;
  }
  return static_cast<uint64_t>(mb * 1024 * 1024);
}

namespace {

namespace fs = std::filesystem;

std::string entryPath(const std::string &dir, const std::string &key, size_t part, size_t count) {
  return dir + "/" + key + "-" + std::to_string(part) + "of" + std::to_string(count) + ".o";
}

/// The `count` objects of `key`'s entry of that many parts, if all are there.
std::optional<std::vector<std::string>> readEntry(const std::string &dir, const std::string &key,
                                                  unsigned count) {
  std::vector<std::string> objects;
  for (unsigned part = 0; part < count; ++part) {
    auto bytes = readWholeFile(entryPath(dir, key, part, count), uint64_t{1} << 30);
    if (!bytes)
      return std::nullopt;
    objects.push_back(std::move(bytes).value());
  }
  // A hit makes the entry the most recently used (eviction goes by time).
  std::error_code ec;
  for (unsigned part = 0; part < count; ++part)
    fs::last_write_time(entryPath(dir, key, part, count), fs::file_time_type::clock::now(), ec);
  return objects;
}

/// One object file of the cache.
struct Entry {
  fs::file_time_type used; ///< last written or read (a hit touches its files)
  uint64_t bytes;
  fs::path path;
};

/// Removes the least recently used objects of `dir` while they exceed
/// `limit` bytes, down to 90% of it (so that the next stores do not scan
/// again at once). Files another process removes or holds open meanwhile
/// are only a cache miss for someone.
void evictLeastRecentlyUsed(const std::string &dir, uint64_t limit) {
  std::error_code ec;
  std::vector<Entry> entries;
  uint64_t total = 0;
  for (const fs::directory_entry &e : fs::directory_iterator(dir, ec)) {
    std::error_code statError;
    if (!e.is_regular_file(statError) || e.path().extension() != ".o")
      continue;
    uint64_t bytes = e.file_size(statError);
    fs::file_time_type used = e.last_write_time(statError);
    if (statError)
      continue;
    entries.push_back({used, bytes, e.path()});
    total += bytes;
  }
  if (ec || total <= limit)
    return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry &a, const Entry &b) { return a.used < b.used; });
  for (const Entry &e : entries) {
    if (total <= limit / 10 * 9)
      break;
    if (fs::remove(e.path, ec))
      total -= e.bytes;
  }
}

} // namespace

std::optional<std::vector<std::string>> readCachedObjects(const std::string &key,
                                                          unsigned maxCount) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return std::nullopt;
  for (unsigned count = maxCount; count >= 1; --count)
    if (auto objects = readEntry(dir, key, count))
      return objects;
  return std::nullopt;
}

void storeCachedObjects(const std::string &key, const std::vector<std::string> &objects) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return;
  for (size_t part = 0; part < objects.size(); ++part)
    if (!writeFileAtomically(entryPath(dir, key, part, objects.size()), objects[part]))
      return;
  evictLeastRecentlyUsed(dir, objectCacheLimitBytes());
}

} // namespace nnc
