/// Parsing `nnc COMMAND [args] [--flag] [--key=value | --key value]`.
#pragma once

#include "ir/Result.h"

#include <map>
#include <string>
#include <vector>

namespace nnc::cli {

/// An option a command accepts.
struct OptionSpec {
  const char *name; ///< without dashes: "engine", or "o" for -o
  bool takesValue;  ///< `--name=value` / `--name value`
  bool repeatable = false;
};

/// The parsed arguments of one command.
class CommandLine {
public:
  std::vector<std::string> positional;

  bool has(const std::string &name) const { return values_.count(name) > 0; }
  /// The (last) value of an option, or `fallback`.
  std::string get(const std::string &name, const std::string &fallback = "") const;
  /// Every value of a repeatable option, in order.
  std::vector<std::string> getAll(const std::string &name) const;

  /// Parses `args` against `specs`; unknown options and missing values are
  /// errors.
  static Result<CommandLine> parse(const std::vector<std::string> &args,
                                   const std::vector<OptionSpec> &specs);

private:
  std::multimap<std::string, std::string> values_;
};

/// Parses a positive integer option value, naming the option in the error.
Result<int64_t> parsePositiveInt(const std::string &option, const std::string &text);
/// `--threads N` (1 to 1024), or 0 (one thread per core) without it.
Result<int> parseThreads(const CommandLine &cl);
/// Parses a finite number option value.
Result<double> parseNumber(const std::string &option, const std::string &text);

} // namespace nnc::cli
