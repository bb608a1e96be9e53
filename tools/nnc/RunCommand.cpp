/// `nnc run M.ir --in NAME=FILE.npy ... -o DIR`: evaluate a model on NumPy
/// tensors and write every output and the minimized loss as .npy files.
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/Checkpoint.h"
#include "runtime/Interpreter.h"
#include "runtime/Npy.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace nnc::cli {

namespace {

const std::vector<OptionSpec> kRunOptions = {
    {"in", true, true}, {"o", true}, {"engine", true}, {"params", true}, {"grads", false},
};

/// Reads one tensor per graph input from the `--in NAME=FILE` options.
Result<std::vector<Tensor>> readInputs(const Graph &g, const CommandLine &cl,
                                       std::map<std::string, std::string> &fileOf) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  std::string names;
  for (ValueId id : inputs)
    names += (names.empty() ? "" : ", ") + g.value(id).name;
  for (const std::string &spec : cl.getAll("in")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return Result<std::vector<Tensor>>::fail("--in needs NAME=FILE.npy, got '{}'", spec);
    std::string name = spec.substr(0, eq);
    if (g.findValue(name) == kNoValue || g.value(g.findValue(name)).kind != ValueKind::Input)
      return Result<std::vector<Tensor>>::fail("--in {}: the model has no input '{}' (its inputs: {})",
                                               spec, name, names.empty() ? "none" : names);
    if (fileOf.count(name))
      return Result<std::vector<Tensor>>::fail("--in {}: input '{}' is given twice", spec, name);
    fileOf[name] = spec.substr(eq + 1);
  }
  std::vector<Tensor> tensors;
  for (ValueId id : inputs) {
    const Value &v = g.value(id);
    auto it = fileOf.find(v.name);
    if (it == fileOf.end())
      return Result<std::vector<Tensor>>::fail("missing --in {}=FILE.npy for input '{}: {}'",
                                               v.name, v.name, g.typeString(id));
    Result<Tensor> t = readNpy(it->second);
    if (!t)
      return Result<std::vector<Tensor>>(t.takeDiags());
    tensors.push_back(std::move(t).value());
  }
  return tensors;
}

/// The values `run` writes: every output, then the minimized loss.
std::vector<ValueId> resultsToWrite(const Graph &g) {
  std::vector<ValueId> out;
  for (const OutputRef &o : g.outputs)
    if (std::find(out.begin(), out.end(), o.value) == out.end())
      out.push_back(o.value);
  if (g.minimize && std::find(out.begin(), out.end(), g.minimize->loss) == out.end())
    out.push_back(g.minimize->loss);
  return out;
}

/// Writes each result atomically as DIR/NAME.npy, and each param's gradient
/// as DIR/grad_PARAM.npy.
int writeResults(const Graph &g, const Interpreter &interp, const std::string &dir,
                 const ParamGradients &grads) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return fail(fmt::format("{}: cannot create directory: {}", dir, ec.message()));
  for (ValueId id : resultsToWrite(g)) {
    std::string path = (std::filesystem::path(dir) / (g.value(id).name + ".npy")).string();
    Status written = writeNpy(path, interp.value(id));
    if (!written)
      return report(written.diags());
  }
  for (const auto &[param, grad] : grads) {
    std::string file = "grad_" + g.value(param).name + ".npy";
    Status written = writeNpy((std::filesystem::path(dir) / file).string(), interp.value(grad));
    if (!written)
      return report(written.diags());
  }
  return 0;
}

} // namespace

int runCommand(const Args &args) {
  auto cl = CommandLine::parse(args, kRunOptions);
  if (!cl)
    return report(cl.diags());
  if (cl->positional.size() != 1 || !cl->has("o"))
    return fail("usage: nnc run M.ir --in NAME=FILE.npy ... -o DIR [--params P] [--grads] [--engine=interp]");
  std::string engine = cl->get("engine", "interp");
  if (engine != "interp" && engine != "jit")
    return fail("--engine must be 'jit' or 'interp', got '" + engine + "'");
  if (engine == "jit")
    return fail("the JIT engine is not available in this build yet; use --engine=interp");

  Result<Graph> g = loadModelFile(cl->positional[0]);
  if (!g)
    return report(g.diags());
  if (Diagnostics problems = verifyGraph(*g); problems.hasErrors())
    return report(problems);
  std::map<std::string, std::string> fileOf;
  auto inputs = readInputs(*g, *cl, fileOf);
  if (!inputs)
    return report(inputs.diags());
  ParamGradients grads;
  if (cl->has("grads")) {
    PassContext ctx;
    auto differentiated = differentiate(*g, ctx);
    report(ctx.diags);
    if (!differentiated)
      return report(differentiated.diags());
    grads = std::move(differentiated).value();
  }

  Interpreter interp(*g);
  if (cl->has("params"))
    if (Status loaded = loadCheckpoint(interp, cl->get("params")); !loaded)
      return report(loaded.diags());
  Status ran = interp.run(*inputs);
  if (!ran) {
    report(ran.diags());
    std::string files;
    for (const auto &[name, file] : fileOf)
      files += fmt::format("{}{}={}", files.empty() ? "" : ", ", name, file);
    std::fprintf(stderr, "nnc: note: inputs were read from %s\n", files.c_str());
    return 1;
  }
  return writeResults(*g, interp, cl->get("o"), grads);
}

} // namespace nnc::cli
