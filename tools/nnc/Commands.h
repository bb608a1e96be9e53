/// The subcommands of `nnc`. Each takes its arguments (after the command
/// name) and returns the process exit status: 0 success, 1 user error.
#pragma once

#include "ir/Diagnostics.h"

#include <string>
#include <vector>

namespace nnc::cli {

using Args = std::vector<std::string>;

int checkCommand(const Args &args);
int printCommand(const Args &args);
int runCommand(const Args &args);
int optCommand(const Args &args);
int trainCommand(const Args &args);
int gradcheckCommand(const Args &args);
int compileCommand(const Args &args);
int dotCommand(const Args &args);

/// Prints diagnostics to stderr (in source order) and returns 1 when any is
/// an error, else 0.
int report(const Diagnostics &diags);
/// Prints `nnc: error: MESSAGE` and returns 1.
int fail(const std::string &message);

} // namespace nnc::cli
