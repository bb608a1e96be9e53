/// Binding data sets to a model's inputs, and scoring its predictions.
#include "tools/nnc/DataBinding.h"

#include "passes/Pipeline.h"

#include <cmath>

namespace nnc::cli {

namespace {

/// `--bind features=X,labels=Y`: the values it names.
Status parseBindSpec(const Graph &g, const std::string &spec, Binding &b) {
  size_t start = 0;
  while (start <= spec.size() && !spec.empty()) {
    size_t comma = spec.find(',', start);
    std::string part = spec.substr(start, comma == std::string::npos ? comma : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (part.empty())
      continue;
    size_t eq = part.find('=');
    std::string role = part.substr(0, eq),
                name = eq == std::string::npos ? "" : part.substr(eq + 1);
    ValueId v = g.findValue(name);
    if ((role != "features" && role != "labels") || v == kNoValue ||
        g.value(v).kind != ValueKind::Input)
      return Status::fail("--bind takes features=INPUT,labels=INPUT; '{}' is not that", part);
    (role == "features" ? b.features : b.labels) = v;
  }
  return Ok{};
}

int64_t product(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// The scored prediction: softmax_cross_entropy's logits, or a [B, 1]
/// prediction compared with the labels by a loss.
void findScoring(const Graph &g, Binding &b) {
  for (const Node &n : g.nodes) {
    if (b.labels == kNoValue || n.operands.size() < 2 || n.operands[1] != b.labels)
      continue;
    if (n.op == OpKind::SoftmaxCrossEntropy) {
      b.logits = n.operands[0];
      b.classes = g.type(b.logits).shape.back().size;
    } else if (n.info().has(kLoss) && g.type(n.operands[0]).shape.size() == 2 &&
               g.type(n.operands[0]).shape[1].isOne()) {
      b.prediction = n.operands[0];
    }
  }
  // Class labels feed an f32 input of K > 1 elements per example as one-hot
  // rows: they must lie in [0, K).
  const Type &lt = g.type(b.labels);
  if (lt.dtype == DType::F32 && b.logits == kNoValue) {
    int64_t k = product(exampleShape(g, b.labels));
    if (k > 1)
      b.classes = k;
  }
}

/// Class labels (i32 [n], each in [0, k): checkLabels()) as the f32 label
/// input takes them: numbers, or one-hot rows of `shape`'s k elements.
Tensor classesAsF32(const Tensor &labels, const std::vector<int64_t> &shape) {
  int64_t n = labels.dim(0), k = product(shape);
  std::vector<int64_t> full{n};
  full.insert(full.end(), shape.begin(), shape.end());
  Tensor out(DType::F32, full);
  for (int64_t i = 0; i < n; ++i) {
    int32_t label = labels.i32()[i];
    if (k == 1)
      out.f32()[i] = static_cast<float>(label);
    else if (label >= 0 && label < k) // checked before training; never written out of bounds
      out.f32()[i * k + label] = 1.0f;
  }
  return out;
}

} // namespace

Result<Binding> bindInputs(const Graph &g, const std::string &spec) {
  std::vector<ValueId> inputs = g.valuesOfKind(ValueKind::Input);
  Binding b;
  if (Status s = parseBindSpec(g, spec, b); !s)
    return Result<Binding>(s.takeDiags());
  if (inputs.empty() || inputs.size() > 2)
    return Result<Binding>::fail("model '{}' has {} inputs; training on a data set needs one "
                                 "(features) or two (features and labels)",
                                 g.name, inputs.size());
  if (b.features == kNoValue)
    b.features = inputs[0] == b.labels ? inputs.back() : inputs[0];
  if (b.labels == kNoValue && inputs.size() == 2)
    b.labels = inputs[inputs[0] == b.features ? 1 : 0];
  if (b.features == b.labels)
    return Result<Binding>::fail("--bind: features and labels are both '{}'",
                                 g.value(b.features).name);
  const Type &ft = g.type(b.features);
  if (ft.rank() == 0)
    return Result<Binding>::fail("features input '{}' must have a batch dim, got {}",
                                 g.value(b.features).name, g.typeString(b.features));
  for (ValueId v : {b.features, b.labels})
    if (v != kNoValue)
      for (size_t i = 1; i < g.type(v).rank(); ++i)
        if (!g.type(v).shape[i].isStatic())
          return Result<Binding>::fail("input '{}: {}' needs static dims after the batch dim to "
                                       "be fed from a data set",
                                       g.value(v).name, g.typeString(v));
  if (b.labels != kNoValue) {
    const Type &lt = g.type(b.labels);
    if (lt.rank() == 0)
      return Result<Binding>::fail("labels input '{}' must be i32[B, ...] (classes) or "
                                   "f32[B, ...] (targets), got {}",
                                   g.value(b.labels).name, g.typeString(b.labels));
    if (lt.dtype == DType::I32)
      b.labelsPerExample = product(exampleShape(g, b.labels));
    findScoring(g, b);
  }
  return b;
}

LabelSpec labelSpecOf(const Graph &g, const Binding &b) {
  LabelSpec spec;
  spec.featureElements = product(exampleShape(g, b.features));
  if (b.labels == kNoValue) {
    spec.kind = LabelSpec::Kind::None;
  } else if (g.type(b.labels).dtype == DType::I32) {
    spec.kind = LabelSpec::Kind::Classes;
  } else {
    spec.kind = LabelSpec::Kind::Targets;
    spec.targetShape = exampleShape(g, b.labels);
  }
  return spec;
}

std::vector<int64_t> exampleShape(const Graph &g, ValueId features) {
  std::vector<int64_t> shape;
  const Shape &s = g.type(features).shape;
  for (size_t i = 1; i < s.size(); ++i)
    shape.push_back(s[i].size);
  return shape;
}

Status checkLabels(const Dataset &d, Binding &b) {
  if (d.labels.empty())
    return Ok{};
  if (d.labels.dtype() == DType::F32) {
    for (int64_t i = 0; i < d.labels.numel(); ++i)
      if (d.labels.f32()[i] != 0.0f && d.labels.f32()[i] != 1.0f)
        b.prediction = kNoValue; // a regression: no accuracy
    return Ok{};
  }
  if (d.labelElements() != b.labelsPerExample)
    return Status::fail("{}: {} class label(s) per example, but the model's labels input takes {}",
                        d.labelsFrom(), d.labelElements(), b.labelsPerExample);
  if (b.classes <= 0)
    return Ok{};
  for (int64_t i = 0; i < d.labels.numel(); ++i) {
    int32_t label = d.labels.i32()[i];
    if (label < 0 || label >= b.classes)
      return Status::fail("{}: label {} in row {} is outside [0, {}) (the model has {} classes)",
                          d.labelsFrom(), label, i / b.labelsPerExample + 1, b.classes, b.classes);
  }
  return Ok{};
}

std::vector<Tensor> batchInputs(const Graph &g, const Binding &b, const Batch &bt) {
  std::vector<Tensor> inputs;
  for (ValueId id : g.valuesOfKind(ValueKind::Input)) {
    if (id == b.features) {
      inputs.push_back(bt.features);
    } else if (g.type(id).dtype == DType::I32 || bt.labels.dtype() == DType::F32) {
      inputs.push_back(bt.labels);
    } else {
      inputs.push_back(classesAsF32(bt.labels, exampleShape(g, id)));
    }
  }
  return inputs;
}

Graph evaluationGraph(const Graph &model, const Binding &b) {
  Graph g = model;
  g.outputs.clear();
  if (ValueId loss = reportedLoss(model); loss != kNoValue)
    g.outputs.push_back(OutputRef{loss, model.loc});
  if (b.logits != kNoValue)
    g.outputs.push_back(OutputRef{b.logits, model.loc});
  else if (b.prediction != kNoValue)
    g.outputs.push_back(OutputRef{b.prediction, model.loc});
  g.minimize.reset();
  g.updates.clear();
  return g;
}

namespace {

/// The predicted class of row `r` of the scored output, and its true class.
std::pair<int64_t, int64_t> predictedAndTrue(const Binding &b, const Tensor &scored,
                                             const Tensor &labels, int64_t r) {
  if (b.logits != kNoValue) {
    int64_t k = scored.dim(scored.rank() - 1), best = 0;
    for (int64_t c = 1; c < k; ++c)
      if (scored.f32()[r * k + c] > scored.f32()[r * k + best])
        best = c;
    return {best, labels.i32()[r]};
  }
  double truth = labels.dtype() == DType::I32 ? labels.i32()[r] : labels.f32()[r];
  return {scored.f32()[r] >= 0.5f ? 1 : 0, truth >= 0.5 ? 1 : 0};
}

} // namespace

Result<Evaluation> evaluate(Engine &engine, const Graph &g, const Dataset &data, const Binding &b,
                            int64_t batch) {
  auto batcher = Batcher::create(data, exampleShape(g, b.features), batch, 0);
  if (!batcher)
    return Result<Evaluation>(batcher.takeDiags());
  batcher->inOrder();
  bool scored = b.logits != kNoValue || b.prediction != kNoValue;
  Evaluation e;
  if (scored) {
    int64_t classes = b.logits != kNoValue ? b.classes : 2;
    e.classCorrect.assign(static_cast<size_t>(classes), 0);
    e.classExamples.assign(static_cast<size_t>(classes), 0);
  }
  bool hasLoss = reportedLoss(g) != kNoValue;
  size_t scoredOutput = hasLoss ? 1 : 0;
  double lossSum = 0, correct = 0, predictions = 0;
  Batch bt;
  for (int64_t i = 0; i < batcher->batchCount(); ++i) {
    batcher->batchInto(i, bt);
    auto outs = engine.infer(batchInputs(g, b, bt));
    if (!outs)
      return Result<Evaluation>(outs.takeDiags());
    int64_t n = bt.features.dim(0);
    if (hasLoss)
      lossSum += (*outs)[0].at(0) * static_cast<double>(n);
    // A row per label: a language model predicts each of its T labels.
    int64_t rows = b.logits != kNoValue ? bt.labels.numel() : n;
    for (int64_t r = 0; r < rows && scored; ++r) {
      auto [predicted, truth] = predictedAndTrue(b, (*outs)[scoredOutput], bt.labels, r);
      correct += predicted == truth;
      predictions += 1;
      e.classExamples[static_cast<size_t>(truth)] += 1;
      e.classCorrect[static_cast<size_t>(truth)] += predicted == truth;
    }
  }
  e.loss = hasLoss ? lossSum / static_cast<double>(data.size()) : std::nan("");
  if (scored)
    e.accuracy = correct / predictions;
  return e;
}

} // namespace nnc::cli
