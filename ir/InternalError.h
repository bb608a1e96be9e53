/// Internal errors: nnc's own bugs, never the user's (user mistakes are
/// located diagnostics, ir/Diagnostics.h). Halide's `internal_assert` and
/// LLVM's `llvm_unreachable`, always on: a check here stays in every build,
/// NDEBUG or not, so a missing case fails loudly instead of computing
/// garbage. It prints `nnc: internal error: FILE:LINE: WHAT` on stderr and
/// aborts.
#pragma once

#include "ir/Graph.h"
#include "ir/InternalError.h"

#include <fmt/format.h>

#include <string>

namespace nnc {

[[noreturn]] void internalError(const char *file, int line, const std::string &what);

/// An op that reached a switch of `layer` ("lowering", "interpreter
/// kernel", "gradient rule", ...) without a case: the op table grew and this
/// file did not. Names the op and where the node came from.
[[noreturn]] void unhandledOp(const char *file, int line, const Node &node, const char *layer);

} // namespace nnc

/// Aborts with an internal error when `cond` is false; the rest of the
/// arguments are a fmt format and its values, saying what went wrong.
#define NNC_CHECK(cond, ...)                                                                       \
  ((cond) ? static_cast<void>(0)                                                                   \
          : ::nnc::internalError(__FILE__, __LINE__,                                               \
                                 "check '" #cond "' failed: " + fmt::format(__VA_ARGS__)))

/// A place the code cannot reach (a switch over every case, returning).
#define NNC_UNREACHABLE(...) ::nnc::internalError(__FILE__, __LINE__, fmt::format(__VA_ARGS__))

/// The `default:` of a switch over ops: `node` has no case in this layer.
#define NNC_UNHANDLED_OP(node, layer) ::nnc::unhandledOp(__FILE__, __LINE__, node, layer)

/// The same for a switch over an OpKind, without its node.
#define NNC_UNHANDLED_OPKIND(kind, layer)                                                          \
  ::nnc::internalError(__FILE__, __LINE__,                                                         \
                       fmt::format("no {} for op '{}'", layer, ::nnc::opInfo(kind).name))
