/// Atomic text output for the nnc tool.
#include "tools/nnc/OutputFile.h"

#include "runtime/io/AtomicFile.h"
#include "tools/nnc/Commands.h"

#include <cstdio>

namespace nnc::cli {

int writeOutput(const std::string &path, const std::string &text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
  }
  Status written = writeFileAtomically(path, text);
  return written ? 0 : report(written.diags());
}

} // namespace nnc::cli
