/// Atomic file writes: a reader sees the old file or the whole new one,
/// never a half-written file, whatever happens during the write.
#pragma once

#include "ir/Result.h"

#include <string>
#include <string_view>

namespace nnc {

/// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it
/// over `path` and syncs the folder. On failure the temporary is removed,
/// `path` is untouched, and the error names `path` and the reason.
Status writeFileAtomically(const std::string &path, std::string_view bytes);

/// Reads a whole file; the error names the file and the reason. Files
/// larger than `maxBytes` are refused.
Result<std::string> readWholeFile(const std::string &path, uint64_t maxBytes = 1ull << 34);

} // namespace nnc
