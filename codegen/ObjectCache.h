/// The on-disk cache of compiled code: object files keyed by a hash of the
/// graphs, the target and the nnc and LLVM versions, under the user's cache
/// directory ($NNC_CACHE_DIR, else $XDG_CACHE_HOME/nnc, else ~/.cache/nnc).
/// Entries are written atomically (temp file, rename), so processes that
/// race on one key both end up with a whole, identical file.
#pragma once

#include <optional>
#include <string>

namespace nnc {

/// The folder of the cache, or "" when no home or cache folder is known.
std::string objectCacheDirectory();

/// The cached object for `key`, if any.
std::optional<std::string> readCachedObject(const std::string &key);

/// Stores an object under `key`; failures (read-only home, full disk) only
/// mean the next run compiles again.
void storeCachedObject(const std::string &key, const std::string &object);

} // namespace nnc
