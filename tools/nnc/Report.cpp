/// What the nnc commands share: reporting diagnostics and failures, and
/// reading the model argument and --dim values.
#include "tools/nnc/Commands.h"

#include "codegen/Compiler.h"
#include "frontend/ModelFile.h"
#include "tools/nnc/Engine.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace nnc::cli {

namespace {

void print(const Diagnostic &d) {
  std::string text = d.loc.known() ? d.render() : "nnc: " + d.render();
  std::fprintf(stderr, "%s\n", text.c_str());
}

/// " (also at lines 48, 51 and 54)", at most `shown` of them.
std::string otherLines(const std::vector<uint32_t> &lines, size_t shown = 8) {
  std::string text;
  for (size_t i = 1; i < lines.size() && i <= shown; ++i)
    text += (i == 1 ? "" : i + 1 == lines.size() ? " and " : ", ") + std::to_string(lines[i]);
  if (lines.size() > shown + 1)
    text += fmt::format(" and {} more", lines.size() - shown - 1);
  return " (also at line" + std::string(lines.size() > 2 ? "s " : " ") + text + ")";
}

} // namespace

int report(const Diagnostics &diags) {
  Diagnostics sorted = diags;
  sorted.sortBySource();
  // Remarks repeat: a pass decides the same way at many ops (an optimizer's
  // ops all sit on the `minimize` line). Each message is printed once, at its
  // first place, as "N x MESSAGE (also at lines ...)".
  std::map<std::string, int> remarkCount;
  std::map<std::string, std::vector<uint32_t>> remarkLines;
  for (const Diagnostic &d : sorted.list()) {
    if (d.severity != Severity::Remark)
      continue;
    ++remarkCount[d.message];
    std::vector<uint32_t> &lines = remarkLines[d.message];
    if (std::find(lines.begin(), lines.end(), d.loc.line) == lines.end())
      lines.push_back(d.loc.line);
  }
  std::set<std::string> printed;
  for (const Diagnostic &d : sorted.list()) {
    if (d.severity != Severity::Remark) {
      print(d);
      continue;
    }
    if (!printed.insert(d.message).second)
      continue;
    const std::vector<uint32_t> &lines = remarkLines[d.message];
    Diagnostic grouped = d;
    if (remarkCount[d.message] > 1)
      grouped.message = fmt::format("{} x {}{}", remarkCount[d.message], d.message,
                                    lines.size() > 1 ? otherLines(lines) : "");
    print(grouped);
  }
  return diags.hasErrors() ? 1 : 0;
}

OptionSpec allowExternalPathsOption() {
  return flag("allow-external-paths",
              "let initializers read files outside the model's folder (absolute paths, '..', "
              "symlinks out of it)");
}

std::vector<OptionSpec> withOnnxTrainingOptions(std::vector<OptionSpec> own) {
  own.push_back(option("loss", "L",
                       "an ONNX model: softmax_cross_entropy, mse, sse or bce over its first "
                       "output, with a new input 'labels'"));
  own.push_back(
      option("optimizer", "O", "an ONNX model: its optimizer (default \"sgd(lr=0.01)\")"));
  return own;
}

std::vector<OptionSpec> withEngineOptions(std::vector<OptionSpec> own) {
  own.push_back(option("engine", "E", "jit (default) or interp, the reference interpreter"));
  own.push_back(option("threads", "N", "threads of the compiled code (default: one per core)"));
  own.push_back(precisionOption());
  own.push_back(flag("no-cache", "compile without the disk cache of compiled code"));
  own.push_back(allowExternalPathsOption());
  return own;
}

OptionSpec precisionOption() {
  return option("precision", "P",
                "f32 (default), bf16 (matmul and conv2d operands in bf16, sums and all else in "
                "f32; needs AVX512_BF16) or auto (bf16 where the CPU has it)");
}

bool runsCompiled(const CommandLine &cl) {
  return cl.get("engine", kDefaultEngine) == std::string("jit") && !cl.has("check-numerics");
}

Result<bool> bf16ProductsOption(const CommandLine &cl, const std::string &cpu, bool compiled) {
  std::string name = cl.get("precision", "f32");
  CompileOptions options;
  options.cpu = cpu;
  if (name == "f32" || name == "fp32")
    options.precision = Precision::F32;
  else if (name == "bf16")
    options.precision = Precision::BF16;
  else if (name == "auto")
    options.precision = Precision::Auto;
  else
    return Result<bool>::fail("--precision must be f32, bf16 or auto, got '{}'", name);
  if (!compiled && options.precision == Precision::BF16)
    return true; // the interpreter rounds the operands itself
  return bf16Products(options);
}

Result<Graph> loadModelArgument(const CommandLine &cl) {
  ModelLoadOptions options;
  options.allowExternalPaths = cl.has("allow-external-paths");
  options.onnxLoss = cl.get("loss");
  options.onnxOptimizer = cl.get("optimizer");
  Result<Graph> g = loadModel(cl.positional[0], options);
  if (!g)
    return g;
  if (Diagnostics problems = verifyGraph(*g); problems.hasErrors())
    return Result<Graph>(std::move(problems));
  return g;
}

int fail(const std::string &message) {
  std::fprintf(stderr, "nnc: error: %s\n", message.c_str());
  return 1;
}

Result<std::vector<int64_t>> readDims(const CommandLine &cl, const Graph &g) {
  std::vector<int64_t> dims(g.dims.size(), 64);
  for (const std::string &given : cl.getAll("dim")) {
    size_t eq = given.find('=');
    int32_t index = eq == std::string::npos ? -1 : g.findDim(given.substr(0, eq));
    if (index < 0)
      return Result<std::vector<int64_t>>::fail(
          "--dim '{}': expected NAME=N with NAME a dim of the model", given);
    auto n = parsePositiveInt("dim", given.substr(eq + 1));
    if (!n)
      return Result<std::vector<int64_t>>(n.takeDiags());
    dims[static_cast<size_t>(index)] = *n;
  }
  return dims;
}

} // namespace nnc::cli
