/// Reporting nnc's own bugs.
#include "ir/InternalError.h"

#include <cstdio>
#include <cstdlib>

namespace nnc {

void internalError(const char *file, int line, const std::string &what) {
  std::fprintf(stderr,
               "nnc: internal error: %s:%d: %s\n(this is a bug in nnc, not in your model)\n", file,
               line, what.c_str());
  std::fflush(stderr);
  std::abort();
}

void unhandledOp(const char *file, int line, const Node &node, const char *layer) {
  std::string where = node.loc.known() ? fmt::format(" (at {})", node.loc.str()) : "";
  internalError(file, line, fmt::format("no {} for op '{}'{}", layer, node.info().name, where));
}

} // namespace nnc
