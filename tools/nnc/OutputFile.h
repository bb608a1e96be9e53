/// Writing the tool's text output: to stdout, or atomically to a file.
#pragma once

#include <string>

namespace nnc::cli {

/// Writes `text` to `path` ("-" is stdout) atomically: a temporary file in
/// the same folder, then a rename. Returns the exit status.
int writeOutput(const std::string &path, const std::string &text);

} // namespace nnc::cli
