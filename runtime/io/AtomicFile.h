/// Atomic file writes: a reader sees the old file or the whole new one,
/// never a half-written file, whatever happens during the write.
#pragma once

#include "ir/Result.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nnc {

/// Writes `bytes` to a new temporary file beside `path` (`PATH.tmp.PID.N`,
/// created exclusively with permissions `mode` less the umask), fsyncs it,
/// renames it over `path` and syncs the folder. On failure the temporary is
/// removed, `path` is untouched, and the error names `path` and the reason.
/// A signal during the write removes the temporary (runtime/Interrupts.h).
/// Temporaries of `path` that processes no longer running left behind
/// (killed during a write) are removed first.
/// A `path` that exists and is not a regular file (or a symlink) is an
/// error, left as it is.
Status writeFileAtomically(const std::string &path, std::string_view bytes, unsigned mode = 0666);

/// Writes several files as one: every file's temporary is written and
/// synced first, and only when all succeeded are they renamed into place,
/// so a failure (a full disk, a missing folder) leaves every target as it
/// was. The renames themselves fail only if a folder changes meanwhile.
Status writeFilesAtomically(const std::vector<std::pair<std::string, std::string>> &files,
                            unsigned mode = 0666);

/// Removes `PATH.tmp.PID...` files beside `path` whose process is gone.
void removeStaleTempFiles(const std::string &path);

/// Whether `path` is a temporary of writeFileAtomically() left by a process
/// that no longer writes it: its PID (parsed from the name) no longer runs,
/// or is this process's but the file is not one this process is writing (a
/// process of an earlier container start had the same PID).
bool isStaleTempFile(const std::string &path);

/// How an output is written: atomically (a temporary in its folder, then a
/// rename: the folder must be writable), or in place (a log appended to:
/// the file itself must be writable when it exists).
enum class OutputKind { Atomic, InPlace };

/// Checks, before any work, that `path` can be written as an output: not a
/// directory, in a folder that exists, writable as `kind` needs. The error
/// names the path and what is wrong.
Status checkOutputPath(const std::string &path, OutputKind kind = OutputKind::Atomic);

/// Reads a whole file; the error names the file and the reason. Files
/// larger than `maxBytes` are refused.
Result<std::string> readWholeFile(const std::string &path, uint64_t maxBytes = 1ull << 34);

} // namespace nnc
