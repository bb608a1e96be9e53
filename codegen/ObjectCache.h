/// The on-disk cache of compiled code: object files keyed by a hash of the
/// graphs, the target and the nnc and LLVM versions, under the user's cache
/// directory ($NNC_CACHE_DIR, else $XDG_CACHE_HOME/nnc, else ~/.cache/nnc).
///
/// nnc runs the native code it finds there, so the cache trusts nothing on
/// disk (DESIGN.md, "Threat model"):
/// - the folder must be the user's own, not writable by group or others,
///   and not a symlink (ssh's rule for ~/.ssh); folders nnc creates are
///   0700 and entries 0600. A folder that fails is not used: nnc warns once,
///   naming it and the reason, and compiles without a cache.
/// - every entry carries its full key, its part number and a SHA-256 of its
///   bytes, checked before use, and is opened without following symlinks;
///   a damaged or foreign entry is removed, recompiled and replaced, and
///   nnc says so once on stderr.
/// Entries are written atomically (an exclusive temp file in the folder,
/// then a rename), so processes that race on one key both end up with a
/// whole, identical file. The cache keeps to a size limit
/// ($NNC_CACHE_MAX_MB, default 512): after each store the least recently
/// used objects go (a hit counts as a use), and temp files of processes
/// that no longer run are removed.
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

/// Why the cache folder may not be used (owner, permissions, a symlink), or
/// "" when it may (also when it does not exist yet).
std::string objectCacheFolderProblem(const std::string &dir);

/// The cached objects of `key`: an entry of at most `maxCount` objects
/// (files KEY-0ofN.o ... KEY-{N-1}ofN.o), if one is whole and checks out.
/// The compiler may split a module into fewer partitions than it was given
/// threads (compilePartitions), so the count is part of the entry, not of
/// the key. A damaged entry is removed (with a warning) and not returned.
std::optional<std::vector<std::string>> readCachedObjects(const std::string &key,
                                                          unsigned maxCount);

/// Stores objects under `key`, as an entry of objects.size() parts;
/// failures (read-only home, full disk) only mean the next run compiles again.
void storeCachedObjects(const std::string &key, const std::vector<std::string> &objects);

/// Removes the entry of `key` with `count` parts: its objects read back
/// whole but could not be loaded (`why`, warned about once).
void discardCachedObjects(const std::string &key, unsigned count, const std::string &why);

/// An entry file's bytes for part `part` of `count` of `key`, and the
/// object inside such bytes if they carry exactly that key and part and an
/// intact checksum (else the reason, in `problem`). For tests and tools.
std::string encodeCacheEntry(const std::string &key, unsigned part, unsigned count,
                             const std::string &object);
std::optional<std::string> decodeCacheEntry(const std::string &bytes, const std::string &key,
                                            unsigned part, unsigned count, std::string &problem);

} // namespace nnc
