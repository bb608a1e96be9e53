/// `nnc run M.ir --in NAME=FILE.npy ... -o DIR`: evaluate a model on NumPy
/// tensors and write every output and the minimized loss as .npy files.
#include "passes/Pipeline.h"
#include "passes/TrainingMode.h"
#include "passes/autodiff/Autodiff.h"
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/Interpreter.h"
#include "tools/nnc/Engine.h"
#include "runtime/io/Npy.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/InputNames.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <map>

namespace nnc::cli {

namespace {

/// Reads a tensor for each graph input given by `--in NAME=FILE`; the
/// inputs not given stay empty (runGraph() decides whether that matters).
Result<std::vector<Tensor>> readInputs(const Graph &g, const CommandLine &cl,
                                       std::map<std::string, std::string> &fileOf) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  for (const std::string &spec : cl.getAll("in")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return Result<std::vector<Tensor>>::fail("--in needs NAME=FILE.npy, got '{}'", spec);
    ValueId input = inputNamed(g, spec.substr(0, eq));
    if (input == kNoValue)
      return Result<std::vector<Tensor>>::fail(
          "--in {}: the model has no input '{}' (its inputs: {})", spec, spec.substr(0, eq),
          inputList(g));
    std::string name = g.value(input).name;
    if (fileOf.count(name))
      return Result<std::vector<Tensor>>::fail("--in {}: input '{}' is given twice", spec, name);
    fileOf[name] = spec.substr(eq + 1);
  }
  std::vector<Tensor> tensors;
  for (ValueId id : inputs) {
    auto it = fileOf.find(g.value(id).name);
    if (it == fileOf.end()) {
      tensors.emplace_back();
      continue;
    }
    Result<Tensor> t = readNpy(it->second);
    if (!t)
      return Result<std::vector<Tensor>>(t.takeDiags());
    tensors.push_back(std::move(t).value());
  }
  return tensors;
}

/// The inputs each value depends on (a bit per input, in declaration order).
std::vector<std::vector<bool>> inputDependencies(const Graph &g) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  std::vector<std::vector<bool>> deps(g.values.size(), std::vector<bool>(inputs.size(), false));
  for (size_t i = 0; i < inputs.size(); ++i)
    deps[static_cast<size_t>(inputs[i])][i] = true;
  for (const Node &n : g.nodes)
    for (ValueId v : n.operands)
      for (size_t i = 0; i < inputs.size(); ++i)
        if (deps[static_cast<size_t>(v)][i])
          deps[static_cast<size_t>(n.result)][i] = true;
  return deps;
}

/// The graph `run` evaluates: the model's outputs, then the minimized loss,
/// then (with --grads) each param's gradient, each only when every input it
/// depends on is given; and the file name of each.
struct RunGraph {
  Graph graph;
  std::vector<std::string> files;
};

/// A result: the value, its file, and what it is (for messages).
struct RunResult {
  ValueId value;
  std::string file;
  std::string what;
};

Result<std::vector<RunResult>> runResults(Graph &g, bool withGrads) {
  using R = Result<std::vector<RunResult>>;
  std::vector<RunResult> results;
  auto add = [&](ValueId v, const std::string &what) {
    for (const RunResult &r : results)
      if (r.value == v)
        return;
    results.push_back({v, g.value(v).name + ".npy", what});
  };
  for (const OutputRef &o : g.outputs)
    add(o.value, fmt::format("output '{}'", g.value(o.value).name));
  if (g.minimize)
    add(g.minimize->loss, fmt::format("the loss '{}'", g.value(g.minimize->loss).name));
  if (withGrads) {
    PassContext ctx;
    auto grads = differentiate(g, ctx);
    report(ctx.diags);
    if (!grads)
      return R(grads.takeDiags());
    for (const auto &[param, grad] : *grads)
      results.push_back({grad, "grad_" + g.value(param).name + ".npy",
                         fmt::format("the gradient of param '{}'", g.value(param).name)});
  }
  for (size_t i = 0; i < results.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (results[i].file == results[j].file)
        return R::fail("{} and {} would both be written to {}: rename the output", results[j].what,
                       results[i].what, results[i].file);
  return results;
}

Result<RunGraph> runGraph(Graph g, bool withGrads, const std::vector<Tensor> &inputs) {
  auto results = runResults(g, withGrads);
  if (!results)
    return Result<RunGraph>(results.takeDiags());
  std::vector<ValueId> inputIds = g.valuesOfKind(ValueKind::Input);
  std::vector<std::vector<bool>> deps = inputDependencies(g);
  std::vector<OutputRef> outputs;
  std::vector<std::string> files;
  std::string firstMissing;
  for (const RunResult &r : *results) {
    std::string missing;
    for (size_t i = 0; i < inputIds.size(); ++i)
      if (deps[static_cast<size_t>(r.value)][i] && inputs[i].empty())
        missing += (missing.empty() ? "" : ", ") + g.value(inputIds[i]).name;
    if (!missing.empty()) {
      std::fprintf(stderr, "nnc: note: %s is not computed: it needs --in for %s\n", r.what.c_str(),
                   missing.c_str());
      if (firstMissing.empty())
        firstMissing = missing;
      continue;
    }
    outputs.push_back(OutputRef{r.value, g.loc});
    files.push_back(r.file);
  }
  if (outputs.empty())
    return Result<RunGraph>::fail("nothing to compute: every output needs an input not given "
                                  "(missing --in for {})",
                                  firstMissing);
  g.outputs = std::move(outputs);
  g.minimize.reset();
  return RunGraph{std::move(g), std::move(files)};
}

/// `-o DIR`: a folder, or a name a folder can be made at.
Status checkOutputFolder(const std::string &dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) {
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      return Status::fail("{}: cannot write into the folder: {}", dir, std::strerror(errno));
    return Ok{};
  }
  return checkOutputPath(dir);
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

const CommandSpec &runCommandSpec() {
  static const CommandSpec spec{
      "run",
      "M.ir --in NAME=FILE.npy ... -o DIR [options]",
      "evaluate the outputs (and loss, gradients) on .npy inputs",
      "Evaluates every output of the model and the minimized loss on the given inputs\n"
      "and writes each as DIR/NAME.npy (creating DIR). An output whose inputs are not\n"
      "all given is left out with a note (inference needs no labels). Inference never\n"
      "applies the model's updates (batchnorm's running statistics are read, not updated).",
      withEngineOptions(withOnnxTrainingOptions({
          repeated("in", "NAME=FILE.npy", "an input's values (.npy, <f4 or <i4, C order)"),
          required(option("o", "DIR", "the folder to write the results to")),
          option("params", "P", "params and state from a checkpoint (default: initializers)"),
          flag("grads", "also write DIR/grad_PARAM.npy, the loss's gradient for each param"),
          option("mode", "train|infer",
                 "batchnorm and dropout as in training or in inference (default: train with "
                 "--grads, else infer)"),
      })),
      {"nnc run examples/backprop_example.ir --in x=x.npy --in t=t.npy --grads -o out/",
       "nnc run examples/cnn.ir --in x=images.npy --params cnn.safetensors -o out/"}};
  return spec;
}

int runCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, runCommandSpec(), status);
  if (!cl)
    return status;
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  if (Status s = checkOutputFolder(cl->get("o")); !s)
    return report(s.diags());
  Result<Graph> g = loadModelArgument(*cl);
  if (!g)
    return report(g.diags());
  std::map<std::string, std::string> fileOf;
  auto inputs = readInputs(*g, *cl, fileOf);
  if (!inputs)
    return report(inputs.diags());
  std::string mode = cl->has("mode") ? cl->get("mode") : cl->has("grads") ? "train" : "infer";
  if (mode != "train" && mode != "infer")
    return fail(fmt::format("--mode must be 'train' or 'infer', got '{}'", mode));
  if (mode == "train")
    applyTrainingMode(*g);
  auto rg = runGraph(std::move(g).value(), cl->has("grads"), *inputs);
  if (!rg)
    return report(rg.diags());
  auto engine = createInferenceEngine(rg->graph, *cl, *threads);
  if (!engine)
    return report(engine.diags());
  auto values = engine->engine->infer(*inputs);
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
