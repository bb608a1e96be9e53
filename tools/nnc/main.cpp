/// The `nnc` command: dispatches to its subcommands (IR.md section 4).
#include "codegen/HostInfo.h"
#include "ir/Spelling.h"
#include "runtime/Interrupts.h"
#include "tools/nnc/Commands.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <stdexcept>

namespace nnc::cli {

const std::vector<Command> &allCommands() {
  static const std::vector<Command> commands = {
      {checkCommandSpec, checkCommand},     {printCommandSpec, printCommand},
      {optCommandSpec, optCommand},         {runCommandSpec, runCommand},
      {trainCommandSpec, trainCommand},     {evalCommandSpec, evalCommand},
      {sampleCommandSpec, sampleCommand},   {gradcheckCommandSpec, gradcheckCommand},
      {compileCommandSpec, compileCommand}, {dotCommandSpec, dotCommand},
      {summaryCommandSpec, summaryCommand}, {plotCommandSpec, plotCommand},
      {importCommandSpec, importCommand},   {exportCommandSpec, exportCommand},
  };
  return commands;
}

} // namespace nnc::cli

namespace {

using namespace nnc::cli;

int version() {
  nnc::HostInfo host = nnc::hostInfo();
  std::printf("nnc %s\nLLVM %s, target %s, host CPU %s (%d-bit vectors)\n", NNC_VERSION,
              host.llvmVersion.c_str(), host.triple.c_str(), host.cpuName.c_str(), host.vectorBits);
  if (host.gemmLibraryKernels == 0)
    std::printf("GEMM library: not linked (every GEMM is compiled into its model)\n");
  else if (host.gemmLibraryCpu.empty())
    std::printf("GEMM library: %d kernels, none for this CPU\n", host.gemmLibraryKernels);
  else
    std::printf("GEMM library: %d kernels; this host calls the %s ones\n", host.gemmLibraryKernels,
                host.gemmLibraryCpu.c_str());
  return 0;
}

/// `nnc --help`: every command with its summary, and where to read more.
int usage(std::FILE *out) {
  std::fprintf(out, "usage: nnc COMMAND [ARGS]   (nnc COMMAND --help: its options)\n\n"
                    "nnc compiles neural networks written as .ir models (IR.md) to native code.\n\n"
                    "commands:\n");
  for (const Command &c : allCommands())
    std::fprintf(out, "  %-11s %s\n", c.spec().name, c.spec().summary);
  std::fprintf(out, "\n  --version   nnc, LLVM, host CPU and GEMM library\n"
                    "  --help      this text\n\n"
                    "environment:\n"
                    "  NNC_CACHE_DIR       the compile cache (default $XDG_CACHE_HOME/nnc or "
                    "~/.cache/nnc)\n"
                    "  NNC_CACHE_MAX_MB    its size limit in MiB (default 512)\n"
                    "  NNC_MAX_TENSOR_BYTES  the largest tensor nnc allocates\n");
  return out == stdout ? 0 : 1;
}

const Command *findCommand(const std::string &name) {
  for (const Command &c : allCommands())
    if (name == c.spec().name)
      return &c;
  return nullptr;
}

int dispatch(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr);
  std::string command = argv[1];
  Args args(argv + 2, argv + argc);
  if (command == "--version" || command == "version")
    return version();
  if (command == "--help" || command == "-h")
    return usage(stdout);
  if (command == "help") {
    if (args.empty())
      return usage(stdout);
    const Command *c = findCommand(args[0]);
    return c ? printHelp(c->spec()) : fail("unknown command '" + args[0] + "' (see 'nnc --help')");
  }
  if (const Command *c = findCommand(command))
    return c->run(args);
  std::vector<std::string> names;
  for (const Command &c : allCommands())
    names.push_back(c.spec().name);
  return fail("unknown command '" + command + "'" + nnc::didYouMean(command, names) +
              " (see 'nnc --help')");
}

} // namespace

int main(int argc, char **argv) {
  // Ctrl-C and friends remove half-written files, and stop training cleanly.
  nnc::installInterruptHandlers();
  try {
    return dispatch(argc, argv);
  } catch (const std::bad_alloc &) {
    std::fputs("nnc: error: out of memory\n", stderr);
  } catch (const std::length_error &e) { // a size over nnc's limits (ir/Limits.h)
    std::fprintf(stderr, "nnc: error: %s\n", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "nnc: internal error: %s\n", e.what());
  }
  return 1;
}
