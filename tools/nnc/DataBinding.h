/// How a data set meets a model in `nnc train` and `nnc eval`: which input
/// takes the features and which the labels, what the labels must be, how a
/// batch becomes the model's inputs, and how predictions are scored.
#pragma once

#include "ir/Graph.h"
#include "ir/Result.h"
#include "runtime/io/Dataset.h"
#include "tools/nnc/Engine.h"

#include <string>
#include <vector>

namespace nnc::cli {

/// How features and labels enter the model, and how predictions are scored.
struct Binding {
  ValueId features = kNoValue;
  ValueId labels = kNoValue;     ///< kNoValue for a model with one input (an autoencoder)
  ValueId logits = kNoValue;     ///< softmax_cross_entropy's logits, for accuracy
  ValueId prediction = kNoValue; ///< a [B, 1] prediction scored at 0.5
  int64_t classes = 0;           ///< class labels must lie in [0, classes) when > 0
  int64_t labelsPerExample = 1;  ///< class labels per example (T for a language model's [B, T])
};

/// Binds the model's inputs: features to the first, labels to the second
/// (`spec` is --bind's `features=X,labels=Y`, either part optional). A model
/// with one input trains on features alone.
Result<Binding> bindInputs(const Graph &g, const std::string &spec);

/// What the data's labels must be for the binding's label input.
LabelSpec labelSpecOf(const Graph &g, const Binding &b);

/// The per-example shape of the features input (its dims after the first).
std::vector<int64_t> exampleShape(const Graph &g, ValueId features);

/// Checks class labels against the model's classes, naming the labels'
/// file and row; drops the [B, 1] scoring when targets are not all 0 or 1.
Status checkLabels(const Dataset &d, Binding &b);

/// The model's inputs for one batch, in declaration order: the features,
/// and the labels converted to the label input's type (i32 classes as they
/// are; f32 targets reshaped; classes into an f32 input as numbers, or one-hot
/// rows when it has more than one element per example).
std::vector<Tensor> batchInputs(const Graph &g, const Binding &b, const Batch &bt);

/// The graph evaluation runs: the model with its loss (reportedLoss(), when
/// it has one) and the scored prediction (logits or a [B, 1] probability) as
/// outputs, without updates.
Graph evaluationGraph(const Graph &model, const Binding &b);

/// Scores of a model on a data set.
struct Evaluation {
  double loss = 0;                    ///< NaN for a model without a loss
  double accuracy = -1;               ///< -1 when the model has no scorable prediction
  std::vector<int64_t> classCorrect;  ///< per class (softmax_cross_entropy models)
  std::vector<int64_t> classExamples; ///< per class
};

/// Mean loss (and accuracy) over a data set, through the engine's inference
/// of evaluationGraph(`g`, `b`), in batches of `batch` examples.
Result<Evaluation> evaluate(Engine &engine, const Graph &g, const Dataset &data, const Binding &b,
                            int64_t batch);

} // namespace nnc::cli
