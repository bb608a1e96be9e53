/// `nnc summary M.ir`: what a model holds and costs: each param and state
/// with its shape and element count, the totals, the FLOPs of the forward
/// pass and of the training step, and the memory plans' bytes at a batch.
#include "ir/Flops.h"
#include "passes/Pass.h"
#include "passes/Pipeline.h"
#include "passes/schedule/MemoryPlan.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"

#include <cstdio>

namespace nnc::cli {

namespace {

int64_t elementCount(const Type &t) {
  int64_t n = 1;
  for (const Dim &d : t.shape)
    n *= d.size;
  return n;
}

/// `1.23 M`, `456 k`, `789`.
std::string scaled(double v) {
  if (v >= 1e9)
    return fmt::format("{:.2f} G", v / 1e9);
  if (v >= 1e6)
    return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e4)
    return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string bytesText(double bytes) {
  if (bytes >= 1 << 20)
    return fmt::format("{:.2f} MiB", bytes / (1 << 20));
  if (bytes >= 1 << 10)
    return fmt::format("{:.1f} KiB", bytes / (1 << 10));
  return fmt::format("{:.0f} B", bytes);
}

/// The table of the declarations of one kind, and their element total.
int64_t printDeclarations(const Graph &g, ValueKind kind, const Graph &model) {
  int64_t total = 0;
  for (ValueId id : g.valuesOfKind(kind)) {
    const Value &v = g.value(id);
    int64_t n = elementCount(v.type);
    total += n;
    bool added = model.findValue(v.name) == kNoValue; // declared by the optimizer
    std::printf("  %-24s %-20s %12lld%s\n", v.name.c_str(), g.typeString(id).c_str(),
                static_cast<long long>(n), added ? "  (optimizer)" : "");
  }
  return total;
}

/// The batch: the value of the first input's first dim when it is a `dim`.
int64_t batchOf(const Graph &g, const std::vector<int64_t> &dims, std::string &name) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  if (inputs.empty() || g.type(inputs[0]).rank() == 0 || g.type(inputs[0]).shape[0].isStatic())
    return 1;
  int32_t symbol = g.type(inputs[0]).shape[0].symbol;
  name = g.dims[static_cast<size_t>(symbol)].name;
  return dims[static_cast<size_t>(symbol)];
}

} // namespace

const CommandSpec &summaryCommandSpec() {
  static const CommandSpec spec{
      "summary",
      "M.ir [--dim B=64 ...]",
      "params, state, FLOPs and memory of a model",
      "Lists each param and state (the optimizer's too) with its type and element\n"
      "count, the totals, the FLOPs of the forward pass and of the training step at the\n"
      "given dims (a multiply-add counts 2) and per example, and the bytes of the\n"
      "compiled inference graph's and training step's memory plans.",
      {repeated("dim", "NAME=N", "a dim's value (default 64 for every dim)"),
       allowExternalPathsOption()},
      {"nnc summary examples/mlp.ir", "nnc summary examples/cnn.ir --dim B=256"}};
  return spec;
}

int summaryCommand(const Args &args) {
  const CommandSpec &spec = summaryCommandSpec();
  int status = 0;
  auto cl = parseCommandLine(args, spec, status);
  if (!cl)
    return status;
  Result<Graph> model = loadModelArgument(*cl);
  if (!model)
    return report(model.diags());
  auto dims = readDims(*cl, *model);
  if (!dims)
    return report(dims.diags());
  PassContext ctx;
  // The training step before fusion (autodiff's ops, whose FLOPs are exact).
  std::optional<Graph> step;
  if (model->minimize) {
    step = *model;
    if (Status s = runPipeline(*step, {"autodiff"}, ctx); !s)
      return report(s.diags());
  } else if (hasTrainingStep(*model)) {
    step = *model;
  }
  const Graph &stateGraph = step ? *step : *model;

  std::printf("model %s\n\n%-26s %-20s %12s\n", model->name.c_str(), "params", "type", "elements");
  int64_t params = printDeclarations(stateGraph, ValueKind::Param, *model);
  std::printf("\nstate\n");
  int64_t state = printDeclarations(stateGraph, ValueKind::State, *model);
  std::printf("\ntotal: %lld params (%s), %lld state elements (%s)\n",
              static_cast<long long>(params), bytesText(4.0 * static_cast<double>(params)).c_str(),
              static_cast<long long>(state), bytesText(4.0 * static_cast<double>(state)).c_str());

  std::string batchName;
  int64_t batch = batchOf(*model, *dims, batchName);
  std::string at;
  for (size_t i = 0; i < model->dims.size(); ++i)
    at += fmt::format("{}{} = {}", i ? ", " : " at ", model->dims[i].name, (*dims)[i]);
  Graph forward = *model;
  forward.updates.clear();
  double forwardFlops = graphFlops(forward, *dims);
  std::printf("\nFLOPs%s: forward %s", at.c_str(), scaled(forwardFlops).c_str());
  if (step)
    std::printf(", training step %s", scaled(graphFlops(*step, *dims)).c_str());
  if (!batchName.empty()) {
    std::printf("\nFLOPs per example (/ %s): forward %s", batchName.c_str(),
                scaled(forwardFlops / static_cast<double>(batch)).c_str());
    if (step)
      std::printf(", training step %s",
                  scaled(graphFlops(*step, *dims) / static_cast<double>(batch)).c_str());
  }
  auto planned = planModel(*model, ctx);
  if (!planned)
    return report(planned.diags());
  std::printf("\n\nmemory%s: inference workspace %s", at.c_str(),
              bytesText(static_cast<double>(planned->infer.plan.workspaceBytes(*dims))).c_str());
  if (planned->train)
    std::printf(", training step workspace %s",
                bytesText(static_cast<double>(planned->train->plan.workspaceBytes(*dims))).c_str());
  std::printf(", params and state %s\n",
              bytesText(4.0 * static_cast<double>(params + state)).c_str());
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

} // namespace nnc::cli
