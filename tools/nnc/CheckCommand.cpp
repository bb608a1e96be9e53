/// `nnc check M.ir` and `nnc print M.ir`.
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <cstdio>

namespace nnc::cli {

namespace {

/// Parses the one model path of `args`; reports and returns nullopt on error.
std::optional<Graph> loadSingleModel(const Args &args, const char *command) {
  auto cl = CommandLine::parse(args, {});
  if (!cl) {
    report(cl.diags());
    return std::nullopt;
  }
  if (cl->positional.size() != 1) {
    fail(fmt::format("usage: nnc {} M.ir", command));
    return std::nullopt;
  }
  Result<Graph> g = loadModelFile(cl->positional[0]);
  if (!g) {
    report(g.diags());
    return std::nullopt;
  }
  Diagnostics problems = verifyGraph(*g);
  if (problems.hasErrors()) {
    report(problems);
    return std::nullopt;
  }
  return std::move(g).value();
}

} // namespace

int checkCommand(const Args &args) { return loadSingleModel(args, "check") ? 0 : 1; }

int printCommand(const Args &args) {
  std::optional<Graph> g = loadSingleModel(args, "print");
  if (!g)
    return 1;
  std::string text = printGraph(*g);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

} // namespace nnc::cli
