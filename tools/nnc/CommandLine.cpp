/// Command-line option parsing for the nnc tool.
#include "tools/nnc/CommandLine.h"

#include <charconv>
#include <cmath>

namespace nnc::cli {

std::string CommandLine::get(const std::string &name, const std::string &fallback) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second)
    return fallback;
  return std::prev(range.second)->second;
}

std::vector<std::string> CommandLine::getAll(const std::string &name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it)
    out.push_back(it->second);
  return out;
}

Result<CommandLine> CommandLine::parse(const std::vector<std::string> &args,
                                       const std::vector<OptionSpec> &specs) {
  CommandLine cl;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      cl.positional.push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
    std::string value;
    bool hasValue = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
      hasValue = true;
    }
    const OptionSpec *spec = nullptr;
    for (const OptionSpec &s : specs)
      if (body == s.name)
        spec = &s;
    if (!spec)
      return Result<CommandLine>::fail("unknown option '{}'", arg);
    if (spec->takesValue && !hasValue) {
      if (i + 1 >= args.size())
        return Result<CommandLine>::fail("option '{}' needs a value", arg);
      value = args[++i];
    } else if (!spec->takesValue && hasValue) {
      return Result<CommandLine>::fail("option '--{}' takes no value", body);
    }
    if (!spec->repeatable && cl.has(body))
      return Result<CommandLine>::fail("option '--{}' is given twice", body);
    cl.values_.emplace(body, value);
  }
  return cl;
}

Result<int64_t> parsePositiveInt(const std::string &option, const std::string &text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v <= 0)
    return Result<int64_t>::fail("--{} needs a positive integer, got '{}'", option, text);
  return v;
}

Result<int> parseThreads(const CommandLine &cl) {
  if (!cl.has("threads"))
    return 0;
  auto v = parsePositiveInt("threads", cl.get("threads"));
  if (!v)
    return Result<int>(v.takeDiags());
  if (*v > 1024)
    return Result<int>::fail("--threads takes at most 1024, got {}", *v);
  return static_cast<int>(*v);
}

Result<double> parseNumber(const std::string &option, const std::string &text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    return Result<double>::fail("--{} needs a number, got '{}'", option, text);
  return v;
}

} // namespace nnc::cli
