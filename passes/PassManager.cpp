/// The pass registry and the pipeline runner.
#include "passes/Pass.h"

#include "ir/Verifier.h"
#include "passes/autodiff/Autodiff.h"
#include "passes/fusion/Fusion.h"
#include "passes/MixedPrecision.h"
#include "passes/TrainingMode.h"
#include "passes/simplify/Simplify.h"

namespace nnc {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
      {"training-mode",
       "batchnorm and dropout as the training step runs them: the batch's statistics with "
       "running-statistics updates, dropout masks keyed by a step counter",
       createTrainingModePass},
      {"autodiff",
       "derive the gradients of the minimized loss and append the optimizer's update "
       "(the training step)",
       createAutodiffPass},
      {"cse", "common subexpressions: one node per op, operands and attributes", createCsePass},
      {"fold", "constant folding with the interpreter's kernels", createFoldPass},
      {"algebra", "algebraic identities (x*1, x+0, neg(neg x), transpose/reshape chains, ...)",
       createAlgebraPass},
      {"dce", "remove what no output, update or loss needs", createDcePass},
      {"simplify", "cse, fold, algebra and dce until nothing changes", createSimplifyPass},
      {"fuse-attention",
       "softmax(q k^T * scale [+ mask]) v into fused_attention, whose kernel never stores the "
       "scores (inference: a training step's backward reads the probabilities)",
       createFuseAttentionPass},
      {"fuse-matmul",
       "matmul + bias add + activation into fused_matmul; activation gradients into the "
       "matmuls and bias sums that read them",
       createFuseMatMulPass},
      {"fuse-pool-relu",
       "relu_grad(y, maxpool2d_grad(y, dy)) into maxpool2d_grad(y, relu_grad(maxpool2d(y), dy)): "
       "the relu's gradient on the pooled side (exact)",
       createFusePoolReluPass},
      {"fuse-conv",
       "an activation of conv2d into fused_conv2d, whose kernel applies it to the finished sums",
       createFuseConvPass},
      {"fuse-add-layernorm",
       "residual add + layernorm (and its gradients) into fused_add_layernorm ops",
       createFuseAddLayerNormPass},
      {"fold-batchnorm",
       "inference: batchnorm after conv2d into the convolution's filters and bias",
       createFoldBatchNormPass},
      {"fuse-elementwise",
       "chains of element-wise and broadcast ops into one fused_elementwise loop (after the "
       "other fusions)",
       createFuseElementwisePass},
      {"mixed-precision",
       "bf16 operands for every matmul and conv2d (precision=bf16), f32 for all else "
       "(--precision bf16 runs it last)",
       createMixedPrecisionPass},
  };
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (name == p.name)
      return &p;
  return nullptr;
}

Result<std::vector<std::string>> parsePipeline(const std::string &spec) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string name =
        spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!findPass(name))
      return Result<std::vector<std::string>>::fail(
          "unknown pass '{}' (see 'nnc opt --list-passes')", name);
    names.push_back(name);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return names;
}

namespace {

/// Runs one pass, then the verifier (when asked) and the afterPass hook.
Result<bool> runPass(Graph &g, const std::string &name, PassContext &ctx) {
  std::unique_ptr<Pass> pass = findPass(name)->create();
  Result<bool> changed = pass->run(g, ctx);
  if (!changed)
    return changed;
  if (ctx.verifyEach) {
    Diagnostics problems = verifyGraph(g);
    if (problems.hasErrors()) {
      Diagnostics d;
      d.add(Severity::Error, {}, "internal error: the graph is invalid after pass '" + name + "'");
      d.append(problems);
      return Result<bool>(std::move(d));
    }
  }
  if (ctx.afterPass)
    ctx.afterPass(name, g);
  return changed;
}

} // namespace

Status runPipeline(Graph &g, const std::vector<std::string> &passes, PassContext &ctx) {
  for (const std::string &name : passes)
    if (Result<bool> ran = runPass(g, name, ctx); !ran)
      return Status(ran.takeDiags());
  return Ok{};
}

Result<bool> runToFixpoint(Graph &g, const std::vector<std::string> &passes, PassContext &ctx,
                           int maxRounds) {
  bool any = false;
  for (int round = 0; round < maxRounds; ++round) {
    bool changed = false;
    for (const std::string &name : passes) {
      Result<bool> ran = runPass(g, name, ctx);
      if (!ran)
        return ran;
      changed = changed || *ran;
    }
    any = any || changed;
    if (!changed)
      break;
  }
  return any;
}

} // namespace nnc
