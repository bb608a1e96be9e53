/// The on-disk object cache.
#include "codegen/ObjectCache.h"

#include "runtime/AtomicFile.h"

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

namespace {

std::string entryPath(const std::string &dir, const std::string &key, size_t part) {
  return dir + "/" + key + "-" + std::to_string(part) + ".o";
}

} // namespace

std::optional<std::vector<std::string>> readCachedObjects(const std::string &key, unsigned count) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return std::nullopt;
  std::vector<std::string> objects;
  for (unsigned part = 0; part < count; ++part) {
    auto bytes = readWholeFile(entryPath(dir, key, part), uint64_t{1} << 30);
    if (!bytes)
      return std::nullopt;
    objects.push_back(std::move(bytes).value());
  }
  return objects;
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
    if (!writeFileAtomically(entryPath(dir, key, part), objects[part]))
      return;
}

} // namespace nnc
