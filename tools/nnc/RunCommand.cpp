/// `nnc run M.ir --in NAME=FILE.npy ... -o DIR`: evaluate a model on NumPy
/// tensors and write every output and the minimized loss as .npy files.
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "passes/Pipelines.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/Checkpoint.h"
#include "runtime/Interpreter.h"
#include "tools/nnc/Engine.h"
#include "runtime/Npy.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace nnc::cli {

namespace {

const std::vector<OptionSpec> kRunOptions = {
    {"in", true, true}, {"o", true},         {"engine", true},  {"params", true},
    {"grads", false},   {"no-cache", false}, {"threads", true},
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
      return Result<std::vector<Tensor>>::fail(
          "--in {}: the model has no input '{}' (its inputs: {})", spec, name,
          names.empty() ? "none" : names);
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

/// The graph `run` evaluates: the model's outputs, then the minimized loss,
/// then (with --grads) each param's gradient; and the file name of each.
struct RunGraph {
  Graph graph;
  std::vector<std::string> files;
};

Result<RunGraph> runGraph(Graph g, bool withGrads) {
  std::vector<std::string> files;
  std::vector<OutputRef> outputs;
  auto add = [&](ValueId v, const std::string &file) {
    for (const OutputRef &o : outputs)
      if (o.value == v)
        return;
    outputs.push_back(OutputRef{v, g.loc});
    files.push_back(file);
  };
  for (const OutputRef &o : g.outputs)
    add(o.value, g.value(o.value).name + ".npy");
  if (g.minimize)
    add(g.minimize->loss, g.value(g.minimize->loss).name + ".npy");
  if (withGrads) {
    PassContext ctx;
    auto grads = differentiate(g, ctx);
    report(ctx.diags);
    if (!grads)
      return Result<RunGraph>(grads.takeDiags());
    for (const auto &[param, grad] : *grads) {
      outputs.push_back(OutputRef{grad, g.loc});
      files.push_back("grad_" + g.value(param).name + ".npy");
    }
  }
  g.outputs = std::move(outputs);
  g.minimize.reset();
  return RunGraph{std::move(g), std::move(files)};
}

/// Writes each result atomically as DIR/FILE.
int writeResults(const RunGraph &rg, const std::vector<Tensor> &values, const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return fail(fmt::format("{}: cannot create directory: {}", dir, ec.message()));
  for (size_t i = 0; i < values.size(); ++i) {
    Status written = writeNpy((std::filesystem::path(dir) / rg.files[i]).string(), values[i]);
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
    return fail("usage: nnc run M.ir --in NAME=FILE.npy ... -o DIR [--params P] [--grads] "
                "[--engine=jit|interp] [--threads N]");
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  Result<Graph> g = loadModelFile(cl->positional[0]);
  if (!g)
    return report(g.diags());
  if (Diagnostics problems = verifyGraph(*g); problems.hasErrors())
    return report(problems);
  std::map<std::string, std::string> fileOf;
  auto inputs = readInputs(*g, *cl, fileOf);
  if (!inputs)
    return report(inputs.diags());
  auto rg = runGraph(std::move(g).value(), cl->has("grads"));
  if (!rg)
    return report(rg.diags());
  PassContext ctx;
  auto optimized = optimizedInference(rg->graph, ctx);
  if (!optimized)
    return report(optimized.diags());
  rg->graph = std::move(optimized).value();
  auto engine = createEngine(cl->get("engine", kDefaultEngine), rg->graph, nullptr,
                             !cl->has("no-cache"), *threads);
  if (!engine)
    return report(engine.diags());
  if (cl->has("params"))
    if (Status loaded = loadCheckpoint(rg->graph, (*engine)->state(), cl->get("params")); !loaded)
      return report(loaded.diags());
  auto values = (*engine)->infer(*inputs);
  if (!values) {
    report(values.diags());
    std::string files;
    for (const auto &[name, file] : fileOf)
      files += fmt::format("{}{}={}", files.empty() ? "" : ", ", name, file);
    std::fprintf(stderr, "nnc: note: inputs were read from %s\n", files.c_str());
    return 1;
  }
  return writeResults(*rg, *values, cl->get("o"));
}

} // namespace nnc::cli
