/// How the nnc tool reports diagnostics and failures.
#include "tools/nnc/Commands.h"

#include <cstdio>

namespace nnc::cli {

int report(const Diagnostics &diags) {
  Diagnostics sorted = diags;
  sorted.sortBySource();
  for (const Diagnostic &d : sorted.list()) {
    std::string text = d.loc.known() ? d.render() : "nnc: " + d.render();
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  return diags.hasErrors() ? 1 : 0;
}

int fail(const std::string &message) {
  std::fprintf(stderr, "nnc: error: %s\n", message.c_str());
  return 1;
}

} // namespace nnc::cli
