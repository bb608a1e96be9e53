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

std::optional<std::string> readCachedObject(const std::string &key) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return std::nullopt;
  auto bytes = readWholeFile(dir + "/" + key + ".o", uint64_t{1} << 30);
  if (!bytes)
    return std::nullopt;
  return std::move(bytes).value();
}

void storeCachedObject(const std::string &key, const std::string &object) {
  std::string dir = objectCacheDirectory();
  if (dir.empty())
    return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec)
    (void)writeFileAtomically(dir + "/" + key + ".o", object);
}

} // namespace nnc
