// Every op of the table, compiled: for each op that is not a gradient or
// fused op, the smallest models that use it (OpRecipes.h) run through the
// whole pipeline and the JIT, and must give the interpreter's values:
// forward (the op's result and the loss) and, where the op is
// differentiable, backward (every param's gradient, whose graph holds the
// op's gradient ops, and after fusion its fused ops). An op without a
// recipe, a lowering, an interpreter kernel or a gradient rule fails here.
#include "JitTestUtil.h"
#include "OpRecipes.h"

#include "frontend/Parser.h"
#include "passes/Pipeline.h"
#include "passes/autodiff/Autodiff.h"

#include <gtest/gtest.h>

namespace nnc::test {
namespace {

/// Runs `g` in the interpreter and, planned by the pipeline's inference
/// passes, in the JIT; compares every output.
void expectCompiledLikeInterpreted(const Graph &g, const std::string &what) {
  Interpreter interp(g);
  Status ran = interp.run({});
  ASSERT_TRUE(ran.ok()) << ran.errorText() << "\n" << what;
  PassContext ctx;
  PlanRequest inferenceOnly;
  inferenceOnly.training = false;
  auto planned = planModel(g, ctx, inferenceOnly);
  ASSERT_TRUE(planned.ok()) << planned.errorText() << "\n" << what;
  auto jit = jitCompile(*planned, {});
  ASSERT_TRUE(jit.ok()) << jit.errorText() << "\n" << what;
  const ModelFunctions &f = (*jit)->functions();
  jittest::AlignedBuffer state(f.stateSize()), workspace(f.workspaceSize(nullptr));
  ASSERT_EQ(f.init(state.p), 0);
  const Graph &compiled = planned->infer.graph;
  std::vector<Tensor> outs;
  std::vector<void *> pointers;
  for (const OutputRef &o : compiled.outputs) {
    outs.emplace_back(compiled.type(o.value).dtype, concreteShape(compiled.type(o.value), {}));
    pointers.push_back(outs.back().data());
  }
  ASSERT_EQ(f.infer(state.p, workspace.p, nullptr, nullptr, pointers.data()), 0) << what;
  for (size_t k = 0; k < outs.size(); ++k)
    if (!jittest::expectClose(outs[k], interp.value(g.outputs[k].value),
                              "output '" + g.value(g.outputs[k].value).name + "' of\n" + what))
      return;
}

/// One recipe's model: the op's result `out` (and the loss), then every
/// param's gradient.
void checkCase(const OpInfo &info, const Case &c) {
  std::string text = modelText(c, static_cast<uint32_t>(std::hash<std::string>{}(c.label)));
  SCOPED_TRACE(std::string(info.name) + ": " + c.label);
  Result<Graph> parsed = parseModel(text, "coverage.ir");
  ASSERT_TRUE(parsed.ok()) << parsed.errorText() << "\n" << text;

  Graph forward = *parsed;
  forward.outputs = {OutputRef{forward.findValue("out"), forward.loc}};
  if (forward.minimize)
    forward.outputs.push_back(OutputRef{forward.minimize->loss, forward.loc});
  forward.minimize.reset();
  expectCompiledLikeInterpreted(forward, "forward of\n" + text);
  if (c.forwardOnly)
    return;

  Graph backward = *parsed;
  PassContext ctx;
  auto grads = differentiate(backward, ctx);
  ASSERT_TRUE(grads.ok()) << grads.errorText();
  ASSERT_FALSE(grads->empty()) << "no gradient for any param";
  backward.outputs.clear();
  for (const auto &[param, grad] : *grads)
    backward.outputs.push_back(OutputRef{grad, backward.loc});
  backward.minimize.reset();
  expectCompiledLikeInterpreted(backward, "backward of\n" + text);
}

TEST(OpCoverage, EveryOpCompilesLikeTheInterpreterForwardAndBackward) {
  int ops = 0;
  for (const OpInfo &info : allOps()) {
    if (info.has(kGradientOp) || info.has(kFused))
      continue; // covered through the gradients and the fusion of the ops they stand for
    std::vector<Case> cases = casesFor(info);
    if (cases.empty()) {
      ADD_FAILURE() << "op '" << info.name << "' has no recipe in OpRecipes.h";
      continue;
    }
    for (const Case &c : cases) {
      checkCase(info, c);
      if (::testing::Test::HasFatalFailure())
        return;
    }
    ++ops;
  }
  EXPECT_GT(ops, 35);
}

} // namespace
} // namespace nnc::test
