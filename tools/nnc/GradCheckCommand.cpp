/// `nnc gradcheck M.ir [--in NAME=FILE.npy ...]`: compares the gradients
/// autodiff derives with central differences of the loss, for every param,
/// and prints the worst absolute and relative error per param. Exit 1 when
/// any error is above the tolerance.
///
/// The loss is evaluated in f32 (as every engine computes it); the
/// perturbation and the difference quotient are computed in double, with a
/// step of 1e-3 x max(1, |w|), which balances f32 rounding against
/// truncation error. An element where the one-sided differences disagree
/// sits on a kink (relu at 0, a max tie) and is skipped, as is a param whose
/// loss passes through `step`, whose gradient is straight-through by
/// definition. Large params are checked on a deterministic sample of their
/// elements (--max-elements).
#include "passes/autodiff/Autodiff.h"
#include "runtime/Initializers.h"
#include "runtime/Interpreter.h"
#include "runtime/io/Npy.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/InputNames.h"

#include <cmath>
#include <map>

namespace nnc::cli {

namespace {

/// Classes of the labels an i32 input feeds (softmax_cross_entropy), or 2.
int64_t labelClasses(const Graph &g, ValueId input) {
  for (const Node &n : g.nodes)
    if (n.op == OpKind::SoftmaxCrossEntropy && n.operands[1] == input)
      return g.type(n.operands[0]).shape[1].size;
  return 2;
}

/// Inputs from --in files, or random ones (symbolic dims = 3).
Result<std::vector<Tensor>> gradcheckInputs(const Graph &g, const CommandLine &cl) {
  std::map<std::string, std::string> files;
  for (const std::string &spec : cl.getAll("in")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos)
      return Result<std::vector<Tensor>>::fail("--in needs NAME=FILE.npy, got '{}'", spec);
    ValueId input = inputNamed(g, spec.substr(0, eq));
    if (input == kNoValue)
      return Result<std::vector<Tensor>>::fail(
          "--in {}: the model has no input '{}' (its inputs: {})", spec, spec.substr(0, eq),
          inputList(g));
    files[g.value(input).name] = spec.substr(eq + 1);
  }
  std::vector<Tensor> out;
  uint64_t seed = 12345;
  for (ValueId id : g.valuesOfKind(ValueKind::Input)) {
    const Value &v = g.value(id);
    if (auto it = files.find(v.name); it != files.end()) {
      auto t = readNpy(it->second);
      if (!t)
        return Result<std::vector<Tensor>>(t.takeDiags());
      out.push_back(std::move(t).value());
      continue;
    }
    std::vector<int64_t> dims(g.dims.size(), 3);
    Tensor t(v.type.dtype, concreteShape(v.type, dims));
    std::vector<float> random(static_cast<size_t>(t.numel()));
    fillUniform(random.data(), t.numel(), 0, 1, seed++);
    int64_t classes = v.type.dtype == DType::I32 ? labelClasses(g, id) : 0;
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, classes ? std::floor(random[static_cast<size_t>(i)] * static_cast<double>(classes))
                       : 2 * random[static_cast<size_t>(i)] - 1);
    out.push_back(std::move(t));
  }
  return out;
}

struct ParamError {
  double worstAbs = 0, worstRel = 0;
  int64_t checked = 0, kinks = 0;
  bool ok = true;
};

/// Whether `param` reaches a `step` op (whose gradient is straight-through).
bool feedsStep(const Graph &g, ValueId param) {
  std::vector<bool> dep(g.values.size(), false);
  dep[static_cast<size_t>(param)] = true;
  for (const Node &n : g.nodes)
    for (ValueId v : n.operands)
      if (dep[static_cast<size_t>(v)]) {
        if (n.op == OpKind::Step)
          return true;
        dep[static_cast<size_t>(n.result)] = true;
      }
  return false;
}

} // namespace

const CommandSpec &gradcheckCommandSpec() {
  static const CommandSpec spec{
      "gradcheck",
      "M.ir [options]",
      "compare autodiff's gradients with central differences",
      "Differentiates the minimized loss with autodiff and compares each param's gradient\n"
      "with central differences of the loss (evaluated by the interpreter in f32, the\n"
      "quotients taken in double). Inputs not given with --in are seeded: f32 uniform in\n"
      "[-1, 1], i32 labels in range, symbolic dims 3. Per param it prints the largest\n"
      "|autodiff - fd| and that error relative to max(1, |fd|), the quantity held to the\n"
      "tolerance; elements on a kink (the one-sided differences disagree) are skipped.\n"
      "Exit 1 when a param is out of tolerance.",
      withOnnxTrainingOptions({
          repeated("in", "NAME=FILE.npy", "an input's values (default: seeded random)"),
          allowExternalPathsOption(),
          option("tolerance", "X", "the largest relative error that passes (default 2e-3)"),
          option("max-elements", "N", "check at most N elements of each param (default 256)"),
      }),
      {"nnc gradcheck examples/resnet_s.ir --max-elements 32"}};
  return spec;
}

int gradcheckCommand(const Args &args) {
  int status = 0;
  auto cl = parseCommandLine(args, gradcheckCommandSpec(), status);
  if (!cl)
    return status;
  auto tolerance = numberOption(*cl, "tolerance", 2e-3);
  if (!tolerance)
    return report(tolerance.diags());
  auto maxElements = positiveIntOption(*cl, "max-elements", 256);
  if (!maxElements)
    return report(maxElements.diags());
  Result<Graph> model = loadModelArgument(*cl);
  if (!model)
    return report(model.diags());
  auto inputs = gradcheckInputs(*model, *cl);
  if (!inputs)
    return report(inputs.diags());

  Graph withGrads = *model;
  PassContext ctx;
  auto grads = differentiate(withGrads, ctx);
  report(ctx.diags);
  if (!grads)
    return report(grads.diags());
  Interpreter ad(withGrads), fd(*model);
  if (Status s = ad.run(*inputs); !s)
    return report(s.diags());
  ValueId loss = model->minimize->loss;
  auto lossAt = [&]() {
    Status s = fd.run(*inputs);
    return s ? fd.value(loss).at(0) : std::nan("");
  };

  bool allOk = true;
  double base = lossAt();
  std::printf("tolerance %g: |autodiff - fd| <= %g x max(1, |fd|) at every element checked\n",
              *tolerance, *tolerance);
  std::printf("%-20s %12s %12s %8s %s\n", "param", "max |err|", "max err/scale", "checked", "");
  for (const auto &[param, grad] : *grads) {
    const std::string &name = model->value(param).name;
    if (feedsStep(*model, param)) {
      std::printf("%-20s %12s %12s %8s skipped: its loss passes through step, whose gradient is "
                  "straight-through\n",
                  name.c_str(), "-", "-", "-");
      continue;
    }
    Tensor &w = fd.stateTensor(param);
    const Tensor &g = ad.value(grad);
    ParamError e;
    int64_t n = w.numel(), stride = std::max<int64_t>(1, n / *maxElements);
    for (int64_t i = 0; i < n; i += stride) {
      float original = w.f32()[i];
      double h = 1e-3 * std::max(1.0, std::fabs(static_cast<double>(original)));
      w.f32()[i] = static_cast<float>(original + h);
      double up = lossAt(), stepUp = static_cast<double>(w.f32()[i]) - original;
      w.f32()[i] = static_cast<float>(original - h);
      double down = lossAt(), stepDown = original - static_cast<double>(w.f32()[i]);
      w.f32()[i] = original;
      double forward = (up - base) / stepUp, backward = (base - down) / stepDown;
      double numeric = (up - down) / (stepUp + stepDown);
      if (std::fabs(forward - backward) > *tolerance * std::max(1.0, std::fabs(numeric))) {
        ++e.kinks; // not differentiable here: the two sides disagree
        continue;
      }
      ++e.checked;
      double err = std::fabs(numeric - g.at(i));
      e.worstAbs = std::max(e.worstAbs, err);
      double scaled = err / std::max(1.0, std::fabs(numeric)); // what the tolerance bounds
      e.worstRel = std::max(e.worstRel, scaled);
      if (!(scaled <= *tolerance))
        e.ok = false;
    }
    allOk = allOk && e.ok;
    std::string kinks = e.kinks ? fmt::format(" ({} on kinks skipped)", e.kinks) : "";
    std::printf("%-20s %12.3e %12.3e %8lld %s%s\n", name.c_str(), e.worstAbs, e.worstRel,
                static_cast<long long>(e.checked), e.ok ? "ok" : "FAILED", kinks.c_str());
  }
  if (!allOk)
    return fail(fmt::format(
        "gradients differ from central differences by more than {} x max(1, |fd|)", *tolerance));
  return 0;
}

} // namespace nnc::cli
