/// The on-disk cache of compiled code: object files keyed by a hash of the
/// graphs, the target and the nnc and LLVM versions, under the user's cache
/// directory ($NNC_CACHE_DIR, else $XDG_CACHE_HOME/nnc, else ~/.cache/nnc).
/// Entries are written atomically (temp file, rename), so processes that
/// race on one key both end up with a whole, identical file. The cache keeps
/// to a size limit ($NNC_CACHE_MAX_MB, default 512): after each store the
/// least recently used objects go (a hit counts as a use), which also
/// clears entries that no build of nnc will ask for again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// The folder of the cache, or "" when no home or cache folder is known.
std::string objectCacheDirectory();

/// The cache's size limit in bytes: $NNC_CACHE_MAX_MB (fractions allowed),
/// else 512 MiB.
uint64_t objectCacheLimitBytes();

/// The `count` cached objects of `key` (files KEY-0.o, KEY-1.o, ...), if
/// all are there.
std::optional<std::vector<std::string>> readCachedObjects(const std::string &key, unsigned count);

/// Stores objects under `key`; failures (read-only home, full disk) only
/// mean the next run compiles again.
void storeCachedObjects(const std::string &key, const std::vector<std::string> &objects);

} // namespace nnc
