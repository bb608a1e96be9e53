/// The `nnc` command: dispatches to its subcommands (IR.md section 4).
#include "codegen/HostInfo.h"
#include "tools/nnc/Commands.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <stdexcept>

namespace {

const char *kUsage = R"(usage: nnc COMMAND [ARGS]

commands:
  check M.ir            parse and verify a model; silent when it is valid
  print M.ir            print the model in canonical form ('-' reads stdin)
  opt M.ir [--passes=a,b] [--pipeline=train|infer] [--list-passes]
        [--print-after-all] [-o OUT.ir]
                        run passes (default: the whole pipeline) and print
  run M.ir --in NAME=FILE.npy ... -o DIR [--engine=interp]
                        evaluate every output and the minimized loss,
                        writing DIR/NAME.npy for each
  train M.ir --data D [--epochs N] [--batch N] [--lr X] [--save P]
        [--params P] [--log F] [--seed S] [--holdout D]
                        train with the model's optimizer on IDX, CSV or
                        FEATURES.npy,LABELS.npy data
  gradcheck M.ir [--in NAME=FILE.npy ...]
                        compare autodiff's gradients with central differences
  compile M.ir -o OUT.o [--header OUT.h] [--name PREFIX] [--target-cpu CPU]
        [--time] [--emit=llvm|asm]
                        ahead-of-time object file and C header
  dot M.ir [--passes=a,b] [--pipeline=train|infer] [-o OUT.dot]
                        Graphviz DOT of the graph after those passes
  --version             nnc, LLVM, host CPU and GEMM library
  --help                this text
)";

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

int dispatch(int argc, char **argv) {
  using namespace nnc::cli;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 1;
  }
  std::string command = argv[1];
  Args args(argv + 2, argv + argc);
  if (command == "--version" || command == "version")
    return version();
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "check")
    return checkCommand(args);
  if (command == "print")
    return printCommand(args);
  if (command == "run")
    return runCommand(args);
  if (command == "opt")
    return optCommand(args);
  if (command == "train")
    return trainCommand(args);
  if (command == "gradcheck")
    return gradcheckCommand(args);
  if (command == "compile")
    return compileCommand(args);
  if (command == "dot")
    return dotCommand(args);
  return fail("unknown command '" + command + "' (see 'nnc --help')");
}

} // namespace

int main(int argc, char **argv) {
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
