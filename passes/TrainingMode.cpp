/// The training-mode rewrite (passes/TrainingMode.h).
#include "passes/TrainingMode.h"

#include "ir/GraphBuilder.h"
#include "ir/InternalError.h"
#include "ir/NodeAttrs.h"

namespace nnc {

namespace {

/// The name of the step counter that keys dropout's masks.
constexpr const char *kStepName = "nnc.step";

/// Whether `g` has an op that trains differently.
bool hasModeOps(const Graph &g) {
  for (const Node &n : g.nodes)
    if (n.op == OpKind::BatchNorm || n.op == OpKind::Dropout)
      return true;
  return false;
}

class TrainingModeWriter {
public:
  explicit TrainingModeWriter(Graph g) : b_(std::move(g)) {}

  Graph write() {
    size_t count = b_.graph().nodes.size();
    for (size_t i = 0; i < count; ++i) {
      Node n = b_.graph().nodes[i]; // a copy: nodes grow
      if (n.op == OpKind::BatchNorm)
        batchNorm(i, n);
      else if (n.op == OpKind::Dropout)
        dropout(i, n);
    }
    if (step_ != kNoValue) {
      SourceLoc loc = b_.graph().loc;
      ValueId next = b_.addOp(OpKind::Add, {step_, b_.addImmediate(1, DType::I32, loc)},
                              defaultAttrs(OpKind::Add), loc);
      b_.addUpdate(step_, next, loc);
    }
    Result<Graph> g = b_.finish();
    NNC_CHECK(g.ok(), "the training-mode rewrite builds a valid graph: {}", g.errorText());
    return std::move(g).value();
  }

private:
  /// batchnorm -> batchnorm_train, and the running statistics' updates.
  void batchNorm(size_t i, const Node &n) {
    ValueId x = n.operands[0];
    AttrValue momentum = AttrValue::num(attr::momentum(n));
    for (size_t k : {3u, 4u}) {
      ValueId running = n.operands[k];
      if (b_.graph().value(running).kind != ValueKind::State)
        continue; // a const keeps its numbers
      OpKind op = k == 3 ? OpKind::BatchNormRunningMean : OpKind::BatchNormRunningVar;
      ValueId next = b_.addOp(op, {x, running}, attrsWith(op, {{"momentum", momentum}}), n.loc);
      b_.addUpdate(running, next, n.loc);
    }
    Node &node = b_.mutableGraph().nodes[i];
    node.op = OpKind::BatchNormTrain;
    node.operands = {n.operands[0], n.operands[1], n.operands[2]};
    node.attrs = attrsWith(OpKind::BatchNormTrain, {{"eps", AttrValue::num(attr::eps(n))}});
  }

  /// dropout -> dropout_train(x, nnc.step).
  void dropout(size_t i, const Node &n) {
    if (step_ == kNoValue)
      step_ = b_.addState(b_.freshName(kStepName), Type{DType::I32, {}},
                          Initializer{"zeros", {}, b_.graph().loc}, {}, b_.graph().loc);
    Node &node = b_.mutableGraph().nodes[i];
    node.op = OpKind::DropoutTrain;
    node.operands = {n.operands[0], step_};
  }

  GraphBuilder b_;
  ValueId step_ = kNoValue;
};

class TrainingModePass : public Pass {
public:
  const char *name() const override { return "training-mode"; }
  Result<bool> run(Graph &g, PassContext &) override { return applyTrainingMode(g); }
};

} // namespace

bool applyTrainingMode(Graph &g) {
  if (!hasModeOps(g))
    return false;
  g = TrainingModeWriter(std::move(g)).write();
  return true;
}

std::unique_ptr<Pass> createTrainingModePass() { return std::make_unique<TrainingModePass>(); }

} // namespace nnc
