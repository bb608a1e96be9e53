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

/// The cached objects of `key`: an entry of at most `maxCount` objects
/// (files KEY-0ofN.o ... KEY-{N-1}ofN.o), if one is whole. The compiler
/// may split a module into fewer partitions than it was given threads
/// (compilePartitions), so the count is part of the entry, not of the key.
std::optional<std::vector<std::string>> readCachedObjects(const std::string &key,
                                                          unsigned maxCount);

/// Stores objects under `key`, as an entry of objects.size() parts;
/// failures (read-only home, full disk) only mean the next run compiles again.
void storeCachedObjects(const std::string &key, const std::vector<std::string> &objects);

} // namespace nnc
