/// Reading a model file: text -> syntax -> checked Graph.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"

#include <string>
#include <string_view>

namespace nnc {

/// Parses and checks one `model NAME { ... }` (IR.md section 1). `fileName`
/// is the name diagnostics show. All errors found are returned, in source
/// order.
Result<Graph> parseModel(std::string_view text, const std::string &fileName);

/// Reads and parses a model file; `-` reads standard input.
Result<Graph> loadModelFile(const std::string &path);

} // namespace nnc
