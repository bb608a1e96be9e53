/// The subcommands of `nnc`. Each takes its arguments (after the command
/// name) and returns the process exit status: 0 success, 1 user error; each
/// describes itself (options, help, examples) in a CommandSpec.
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"
#include "ir/Result.h"
#include "tools/nnc/CommandLine.h"

#include <string>
#include <vector>

namespace nnc::cli {

using Args = std::vector<std::string>;

/// A subcommand: its description and its entry point.
struct Command {
  const CommandSpec &(*spec)();
  int (*run)(const Args &args);
};

/// Every subcommand, in the order `nnc --help` lists them.
const std::vector<Command> &allCommands();

const CommandSpec &checkCommandSpec();
const CommandSpec &printCommandSpec();
const CommandSpec &optCommandSpec();
const CommandSpec &runCommandSpec();
const CommandSpec &trainCommandSpec();
const CommandSpec &gradcheckCommandSpec();
const CommandSpec &compileCommandSpec();
const CommandSpec &dotCommandSpec();
const CommandSpec &evalCommandSpec();
const CommandSpec &summaryCommandSpec();
const CommandSpec &plotCommandSpec();
const CommandSpec &sampleCommandSpec();
const CommandSpec &importCommandSpec();
const CommandSpec &exportCommandSpec();

int checkCommand(const Args &args);
int printCommand(const Args &args);
int runCommand(const Args &args);
int optCommand(const Args &args);
int trainCommand(const Args &args);
int gradcheckCommand(const Args &args);
int compileCommand(const Args &args);
int dotCommand(const Args &args);
int evalCommand(const Args &args);
int summaryCommand(const Args &args);
int plotCommand(const Args &args);
int sampleCommand(const Args &args);
int importCommand(const Args &args);
int exportCommand(const Args &args);

/// `--allow-external-paths`: every command that reads a model takes it.
OptionSpec allowExternalPathsOption();
/// A command's own options, then --loss and --optimizer, which make an ONNX
/// inference graph trainable (ModelLoadOptions).
std::vector<OptionSpec> withOnnxTrainingOptions(std::vector<OptionSpec> own);
/// A command's own options, then those of the commands that run a model:
/// --engine, --threads, --precision, --no-cache, --allow-external-paths.
std::vector<OptionSpec> withEngineOptions(std::vector<OptionSpec> own);
/// `--precision f32|bf16|auto` (passes/MixedPrecision.h).
OptionSpec precisionOption();
/// Whether --precision asks for bf16 matmul and convolution operands, for
/// code compiled for `cpu` (empty: this machine's): an unknown value, or bf16
/// on a CPU without AVX512_BF16, is an error. For the interpreter (`compiled`
/// false) bf16 needs no CPU feature; auto is still this machine's choice.
Result<bool> bf16ProductsOption(const CommandLine &cl, const std::string &cpu = "",
                                bool compiled = true);
/// Whether the command runs the model compiled (--engine jit, the default)
/// rather than in the interpreter.
bool runsCompiled(const CommandLine &cl);
/// The model file named by the command's one positional argument, with the
/// weight files its initializers name (frontend/ModelFile.h), verified.
Result<Graph> loadModelArgument(const CommandLine &cl);

/// The values of the dims of `g` for reports that need numbers: those given
/// as `--dim NAME=N`, 64 for the others.
Result<std::vector<int64_t>> readDims(const CommandLine &cl, const Graph &g);

/// Prints diagnostics to stderr (in source order) and returns 1 when any is
/// an error, else 0.
int report(const Diagnostics &diags);
/// Prints `nnc: error: MESSAGE` and returns 1.
int fail(const std::string &message);

} // namespace nnc::cli
