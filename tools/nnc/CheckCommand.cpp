/// `nnc check M.ir` and `nnc print M.ir`.
#include "ir/Printer.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <cstdio>

namespace nnc::cli {

namespace {

/// Parses the one model path of `args`; reports and returns nullopt on error
/// (or after --help, with `status` 0).
std::optional<Graph> loadSingleModel(const Args &args, const CommandSpec &spec, int &status) {
  auto cl = parseCommandLine(args, spec, status);
  if (!cl)
    return std::nullopt;
  status = 1;
  Result<Graph> g = loadModelArgument(*cl);
  if (!g) {
    report(g.diags());
    return std::nullopt;
  }
  return std::move(g).value();
}

} // namespace

const CommandSpec &checkCommandSpec() {
  static const CommandSpec spec{
      "check",
      "M.ir",
      "parse and verify a model; silent when it is valid",
      "Parses and verifies a model file (IR.md sections 1 and 3). Prints nothing and\n"
      "exits 0 when it is valid; otherwise prints every error, located, in source order,\n"
      "and exits 1.",
      {allowExternalPathsOption()},
      {"nnc check examples/xor.ir"}};
  return spec;
}

const CommandSpec &printCommandSpec() {
  static const CommandSpec spec{
      "print",
      "M.ir",
      "print the model in canonical form ('-' reads stdin)",
      "Prints the model in the canonical form of IR.md section 2, which parses back to\n"
      "the same text. 'nnc print -' reads the model from standard input.",
      {allowExternalPathsOption()},
      {"nnc print examples/xor.ir"}};
  return spec;
}

int checkCommand(const Args &args) {
  int status = 0;
  return loadSingleModel(args, checkCommandSpec(), status) ? 0 : status;
}

int printCommand(const Args &args) {
  int status = 0;
  std::optional<Graph> g = loadSingleModel(args, printCommandSpec(), status);
  if (!g)
    return status;
  std::string text = printGraph(*g);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

} // namespace nnc::cli
