/// Command-line option parsing for the nnc tool.
#include "tools/nnc/CommandLine.h"

#include "ir/Spelling.h"
#include "tools/nnc/Commands.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace nnc::cli {

OptionSpec flag(const char *name, const char *help) { return {name, false, false, "", help}; }

OptionSpec option(const char *name, const char *valueName, const char *help) {
  return {name, true, false, valueName, help};
}

OptionSpec repeated(const char *name, const char *valueName, const char *help) {
  return {name, true, true, valueName, help};
}

OptionSpec required(OptionSpec option) {
  option.required = true;
  return option;
}

std::optional<CommandLine> parseCommandLine(const std::vector<std::string> &args,
                                            const CommandSpec &spec, int &status) {
  status = 1;
  auto cl = CommandLine::parse(args, spec.options);
  if (!cl) {
    report(cl.diags());
    return std::nullopt;
  }
  if (cl->has("help")) {
    status = printHelp(spec);
    return std::nullopt;
  }
  size_t n = cl->positional.size();
  bool countOk = spec.positionals == Positionals::One         ? n == 1
                 : spec.positionals == Positionals::OneOrMore ? n >= 1
                                                              : n <= 1;
  bool requiredOk = true;
  for (const OptionSpec &o : spec.options)
    requiredOk = requiredOk && (!o.required || cl->has(o.name));
  if (!countOk || !requiredOk) {
    status = usageError(spec);
    return std::nullopt;
  }
  status = 0;
  return std::move(cl).value();
}

namespace {

std::string optionText(const OptionSpec &o) {
  std::string text = std::string(o.name).size() == 1 ? "-" : "--";
  text += o.name;
  if (o.takesValue)
    text += std::string(" ") + o.valueName;
  return text;
}

/// `text` wrapped at word boundaries into lines of at most `width` characters.
std::vector<std::string> wrapped(const std::string &text, size_t width) {
  std::vector<std::string> lines(1);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    std::string word = text.substr(start, end == std::string::npos ? end : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (!lines.back().empty() && lines.back().size() + 1 + word.size() > width)
      lines.emplace_back();
    lines.back() += (lines.back().empty() ? "" : " ") + word;
  }
  return lines;
}

} // namespace

int printHelp(const CommandSpec &spec) {
  std::printf("usage: nnc %s %s\n\n%s\n", spec.name, spec.usage, spec.details);
  std::printf("\noptions:\n");
  for (const OptionSpec &o : spec.options) {
    std::string text = optionText(o);
    std::vector<std::string> help = wrapped(o.help, 52);
    if (text.size() > 24) {
      std::printf("  %s\n", text.c_str());
      text.clear();
    }
    for (const std::string &line : help) {
      std::printf("  %-24s %s\n", text.c_str(), line.c_str());
      text.clear();
    }
  }
  std::printf("  %-24s %s\n", "-h, --help", "this text");
  if (!spec.examples.empty()) {
    std::printf("\nexample%s:\n", spec.examples.size() > 1 ? "s" : "");
    for (const char *e : spec.examples)
      std::printf("  %s\n", e);
  }
  return 0;
}

int usageError(const CommandSpec &spec) {
  std::fprintf(stderr, "nnc: error: usage: nnc %s %s (see 'nnc %s --help')\n", spec.name,
               spec.usage, spec.name);
  return 1;
}

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
    static const OptionSpec kHelp = flag("help", "this text");
    const OptionSpec *spec = body == "help" || body == "h" ? &kHelp : nullptr;
    for (const OptionSpec &s : specs)
      if (body == s.name)
        spec = &s;
    if (!spec) {
      std::vector<std::string> names;
      for (const OptionSpec &s : specs)
        names.push_back(s.name);
      std::string near = closestName(body, names);
      return Result<CommandLine>::fail("unknown option '{}'{}", arg,
                                       didYouMean(body, names, near.size() == 1 ? "-" : "--"));
    }
    if (spec->takesValue && !hasValue) {
      if (i + 1 >= args.size())
        return Result<CommandLine>::fail("option '{}' needs a value", arg);
      value = args[++i];
    } else if (!spec->takesValue && hasValue) {
      return Result<CommandLine>::fail("option '--{}' takes no value", body);
    }
    if (!spec->repeatable && cl.has(spec->name))
      return Result<CommandLine>::fail("option '--{}' is given twice", spec->name);
    cl.values_.emplace(spec->name, value);
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

Result<int64_t> positiveIntOption(const CommandLine &cl, const std::string &name,
                                  int64_t fallback) {
  return cl.has(name) ? parsePositiveInt(name, cl.get(name)) : Result<int64_t>(fallback);
}

Result<uint64_t> seedOption(const CommandLine &cl, uint64_t fallback) {
  if (!cl.has("seed"))
    return fallback;
  const std::string &text = cl.get("seed");
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    return Result<uint64_t>::fail("--seed needs a non-negative integer, got '{}'", text);
  return v;
}

Result<double> numberOption(const CommandLine &cl, const std::string &name, double fallback) {
  return cl.has(name) ? parseNumber(name, cl.get(name)) : Result<double>(fallback);
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

Result<double> parseLearningRate(const std::string &text) {
  auto v = parseNumber("lr", text);
  if (!v)
    return v;
  if (*v < 0 || *v > std::numeric_limits<float>::max())
    return Result<double>::fail("--lr needs a finite, non-negative rate, got '{}'", text);
  return v;
}

Result<double> parseNumber(const std::string &option, const std::string &text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    return Result<double>::fail("--{} needs a number, got '{}'", option, text);
  return v;
}

} // namespace nnc::cli
