/// Parsing `nnc COMMAND [args] [--flag] [--key=value | --key value]`, and
/// each command's description: its options with their help text, from which
/// `nnc COMMAND --help` and the usage errors are printed.
#pragma once

#include "ir/Result.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nnc::cli {

/// An option a command accepts.
struct OptionSpec {
  const char *name;        ///< without dashes: "engine", or "o" for -o
  bool takesValue = false; ///< `--name=value` / `--name value`
  bool repeatable = false;
  const char *valueName = ""; ///< `N`, `FILE`: how help shows the value
  const char *help = "";      ///< one line, with the default where there is one
  bool required = false;      ///< the command cannot run without it (`train --data`)
};

/// `--name`: a flag without a value.
OptionSpec flag(const char *name, const char *help);
/// `--name VALUE`.
OptionSpec option(const char *name, const char *valueName, const char *help);
/// `--name VALUE`, which may be given several times.
OptionSpec repeated(const char *name, const char *valueName, const char *help);
/// The same option, required.
OptionSpec required(OptionSpec option);

/// How many positional arguments (model or log files) a command takes.
enum class Positionals { One, OneOrMore, AtMostOne };

/// A command of `nnc`: what `nnc COMMAND --help` prints.
struct CommandSpec {
  const char *name;    ///< "train"
  const char *usage;   ///< after the name: "M.ir --data D [options]"
  const char *summary; ///< one line, for `nnc --help`
  const char *details; ///< a paragraph or two
  std::vector<OptionSpec> options;
  std::vector<const char *> examples;
  Positionals positionals = Positionals::One;
};

/// Prints `spec`'s help on stdout; returns exit status 0.
int printHelp(const CommandSpec &spec);
/// `nnc: error: usage: nnc NAME USAGE (see 'nnc NAME --help')`; returns 1.
int usageError(const CommandSpec &spec);

/// The parsed arguments of one command.
class CommandLine {
public:
  std::vector<std::string> positional;

  bool has(const std::string &name) const { return values_.count(name) > 0; }
  /// The (last) value of an option, or `fallback`.
  std::string get(const std::string &name, const std::string &fallback = "") const;
  /// Every value of a repeatable option, in order.
  std::vector<std::string> getAll(const std::string &name) const;

  /// Parses `args` against `specs` (`--help` and `-h` are always accepted,
  /// as "help"); unknown options (with the closest known name, "did you
  /// mean --epochs?") and missing values are errors.
  static Result<CommandLine> parse(const std::vector<std::string> &args,
                                   const std::vector<OptionSpec> &specs);

private:
  friend std::optional<CommandLine> parseCommandLine(const std::vector<std::string> &args,
                                                     const CommandSpec &spec, int &status);
  std::multimap<std::string, std::string> values_;
};

/// Parses a command's arguments against its spec. nullopt when the command
/// is done, with its exit status in `status`: an error reported, `--help`
/// printed (0), or a usage error (a missing positional argument or
/// required option).
std::optional<CommandLine> parseCommandLine(const std::vector<std::string> &args,
                                            const CommandSpec &spec, int &status);

/// Parses a positive integer option value, naming the option in the error.
Result<int64_t> parsePositiveInt(const std::string &option, const std::string &text);
/// `--NAME N`, a positive integer, or `fallback` without it.
Result<int64_t> positiveIntOption(const CommandLine &cl, const std::string &name, int64_t fallback);
/// `--seed S`, a non-negative integer, or `fallback` without it.
Result<uint64_t> seedOption(const CommandLine &cl, uint64_t fallback);
/// `--NAME X`, a finite number, or `fallback` without it.
Result<double> numberOption(const CommandLine &cl, const std::string &name, double fallback);
/// `--threads N` (1 to 1024), or 0 (one thread per core) without it.
Result<int> parseThreads(const CommandLine &cl);
/// Parses a finite number option value.
Result<double> parseNumber(const std::string &option, const std::string &text);
/// `--lr X`: a finite, non-negative rate that fits an f32.
Result<double> parseLearningRate(const std::string &text);

} // namespace nnc::cli
