/// The optimizers as graph statements, with PyTorch's update rules:
///
///   sgd  (torch.optim.SGD, dampening 0, no nesterov):
///     g = grad + weight_decay * p;  v <- momentum * v + g;  p <- p - lr * v
///     (without momentum, p <- p - lr * g; v starts at zero, which makes the
///     first step v = g exactly as PyTorch's buffer initialization does)
///   adam (torch.optim.Adam, no weight decay, no amsgrad):
///     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
///     p <- p - lr / c1 * m / (sqrt(v) / sqrt(c2) + eps)
///   where c_i = 1 - b_i^t is kept as state by the exact recurrence
///   c <- (1 - b) + b c (c starts at 0), which has no cancellation in f32.
///
/// The learning rate is a state too (`sgd.lr`, `adam.lr`, initialized to
/// the `lr` argument) rather than a constant, so a training loop can
/// schedule it between steps without recompiling (`nnc train --lr-schedule`).
#include "passes/autodiff/Autodiff.h"
#include "ir/InternalError.h"

#include "ir/GraphBuilder.h"

namespace nnc {

namespace {

class OptimizerWriter {
public:
  OptimizerWriter(Graph g) : b_(std::move(g)) {
    const Minimize &m = *b_.graph().minimize;
    loc_ = m.loc;
    const CallableInfo &info = *findOptimizer(m.optimizer);
    for (size_t i = 0; i < info.attrs.size(); ++i)
      args_[info.attrs[i].name] = m.args[i].number;
  }

  Result<Graph> write(const ParamGradients &grads) {
    const std::string &name = b_.graph().minimize->optimizer;
    // Declared before the optimizer's other states, so learningRateName()
    // finds the same fresh name.
    lr_ = b_.addState(learningRateName(b_.graph()), Type{DType::F32, {}},
                      Initializer{"fill", {AttrValue::num(args_["lr"])}, loc_}, {}, loc_);
    if (name == "adam")
      writeAdam(grads);
    else
      writeSgd(grads);
    Graph &g = b_.mutableGraph();
    // The training step's last output is its loss (engines rely on it).
    ValueId loss = g.minimize->loss;
    g.minimize.reset();
    std::erase_if(g.outputs, [&](const OutputRef &o) { return o.value == loss; });
    g.outputs.push_back(OutputRef{loss, loc_});
    return b_.finish();
  }

private:
  ValueId num(double v) { return b_.addImmediate(v, DType::F32, loc_); }
  ValueId op(OpKind k, std::vector<ValueId> operands) {
    ValueId v = b_.addOp(k, std::move(operands), defaultAttrs(k), loc_);
    NNC_CHECK(v != kNoValue, "");
    return v;
  }
  ValueId state(const std::string &base, const Type &type) {
    return b_.addState(b_.freshName(base), type, Initializer{"zeros", {}, loc_}, {}, loc_);
  }
  void update(ValueId target, ValueId value) { b_.addUpdate(target, value, loc_); }
  const Value &value(ValueId v) const { return b_.graph().value(v); }

  void writeSgd(const ParamGradients &grads) {
    double momentum = args_["momentum"], decay = args_["weight_decay"];
    for (const auto &[p, grad] : grads) {
      std::string name = value(p).name;
      Type type = value(p).type;
      ValueId g = grad;
      if (decay != 0)
        g = op(OpKind::Add, {g, op(OpKind::Mul, {p, num(decay)})});
      if (momentum != 0) {
        ValueId v = state(name + ".velocity", type);
        g = op(OpKind::Add, {op(OpKind::Mul, {v, num(momentum)}), g});
        update(v, g);
      }
      update(p, op(OpKind::Sub, {p, op(OpKind::Mul, {g, lr_})}));
    }
  }

  void writeAdam(const ParamGradients &grads) {
    double b1 = args_["beta1"], b2 = args_["beta2"], eps = args_["eps"];
    Type scalar{DType::F32, {}};
    ValueId step = state("adam.step", scalar);
    ValueId c1 = state("adam.correction1", scalar);
    ValueId c2 = state("adam.correction2", scalar);
    ValueId c1Next = op(OpKind::Add, {num(1 - b1), op(OpKind::Mul, {c1, num(b1)})});
    ValueId c2Next = op(OpKind::Add, {num(1 - b2), op(OpKind::Mul, {c2, num(b2)})});
    ValueId stepSize = op(OpKind::Div, {lr_, c1Next});
    ValueId sqrtC2 = op(OpKind::Sqrt, {c2Next});
    update(step, op(OpKind::Add, {step, num(1)}));
    update(c1, c1Next);
    update(c2, c2Next);
    for (const auto &[p, g] : grads) {
      std::string name = value(p).name;
      Type type = value(p).type;
      ValueId m = state(name + ".m", type);
      ValueId v = state(name + ".v", type);
      ValueId mNext =
          op(OpKind::Add, {op(OpKind::Mul, {m, num(b1)}), op(OpKind::Mul, {g, num(1 - b1)})});
      ValueId g2 = op(OpKind::Mul, {g, g});
      ValueId vNext =
          op(OpKind::Add, {op(OpKind::Mul, {v, num(b2)}), op(OpKind::Mul, {g2, num(1 - b2)})});
      ValueId denom =
          op(OpKind::Add, {op(OpKind::Div, {op(OpKind::Sqrt, {vNext}), sqrtC2}), num(eps)});
      ValueId delta = op(OpKind::Mul, {op(OpKind::Div, {mNext, denom}), stepSize});
      update(m, mNext);
      update(v, vNext);
      update(p, op(OpKind::Sub, {p, delta}));
    }
  }

  GraphBuilder b_;
  SourceLoc loc_;
  ValueId lr_ = kNoValue;
  std::map<std::string, double> args_;
};

} // namespace

std::string learningRateName(const Graph &model) {
  NNC_CHECK(model.minimize, "");
  return GraphBuilder(model).freshName(model.minimize->optimizer + ".lr");
}

Status appendOptimizer(Graph &g, const ParamGradients &grads) {
  if (!g.minimize)
    return Status::failAt(g.loc, "model '{}' has no 'minimize' statement", g.name);
  Result<Graph> written = OptimizerWriter(std::move(g)).write(grads);
  if (!written)
    return Status(written.takeDiags());
  g = std::move(written).value();
  return Ok{};
}

} // namespace nnc
