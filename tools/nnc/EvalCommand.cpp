/// `nnc eval M.ir --params P --data D`: a trained model's loss and accuracy
/// (per class too, for classification) on a data set, without training.
#include "passes/Pipeline.h"
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/DataBinding.h"
#include "tools/nnc/Engine.h"
#include "tools/nnc/TrainingLog.h"

#include <cmath>
#include <cstdio>

namespace nnc::cli {

namespace {

/// The data set to score: --split test (an IDX directory's t10k files, the
/// default when there are some) or train (the data as given).
Result<Dataset> readEvaluationData(const CommandLine &cl, const Graph &model, Binding &binding) {
  std::string split = cl.get("split", hasTestSplit(cl.get("data")) ? "test" : "train");
  if (split != "test" && split != "train")
    return Result<Dataset>::fail("--split takes test or train, got '{}'", split);
  auto data = loadDataset(cl.get("data"), split == "test", labelSpecOf(model, binding));
  if (!data)
    return data;
  if (Status s = checkLabels(*data, binding); !s)
    return Result<Dataset>(s.takeDiags());
  return data;
}

/// The scores as text: loss, accuracy, and a line per class.
std::string scoreText(const Evaluation &e, const Dataset &data, bool withLoss) {
  std::string text = fmt::format("examples {}\n", data.size());
  if (withLoss)
    text += fmt::format("loss {:.6f}\n", e.loss);
  if (e.accuracy >= 0) {
    text += fmt::format("accuracy {:.4f}\n", e.accuracy);
    text += "class  examples  accuracy\n";
    for (size_t c = 0; c < e.classExamples.size(); ++c) {
      if (e.classExamples[c] == 0)
        continue;
      text += fmt::format("{:>5}  {:>8}  {:.4f}\n", c, e.classExamples[c],
                          static_cast<double>(e.classCorrect[c]) /
                              static_cast<double>(e.classExamples[c]));
    }
  }
  return text;
}

std::string scoreJson(const Evaluation &e, const Dataset &data, bool withLoss) {
  JsonLine line;
  line.add("examples", data.size());
  if (withLoss)
    line.add("loss", e.loss, "{:.6f}");
  if (e.accuracy >= 0) {
    line.add("accuracy", e.accuracy, "{:.4f}");
    for (size_t c = 0; c < e.classExamples.size(); ++c)
      if (e.classExamples[c] > 0)
        line.add(fmt::format("accuracy_class_{}", c),
                 static_cast<double>(e.classCorrect[c]) / static_cast<double>(e.classExamples[c]),
                 "{:.4f}");
  }
  return line.text() + "\n";
}

} // namespace

const CommandSpec &evalCommandSpec() {
  static const CommandSpec spec{
      "eval",
      "M.ir --data D [--params P] [options]",
      "loss and accuracy of a (trained) model on a data set",
      "Scores the model on a data set without training it: the mean loss and, for a\n"
      "classifier, the accuracy overall and per class. The data options are train's;\n"
      "an IDX directory is scored on its test files unless --split train says otherwise.",
      withEngineOptions({
          required(option("data", "D",
                          "the data: an IDX directory, a CSV file, FEATURES.npy,LABELS.npy or "
                          "text:PATH")),
          option("params", "P", "params and state from a checkpoint (default: initializers)"),
          option("split", "test|train", "which part of an IDX directory or text (default test)"),
          option("batch", "N", "examples per call (default 64); the scores do not depend on it"),
          option("bind", "SPEC", "features=INPUT,labels=INPUT: which inputs take the data"),
          flag("json", "print one JSON object instead of text"),
      }),
      {"nnc eval examples/mlp.ir --params mlp.safetensors --data "
       "/usr/share/datasets/fashion-mnist"}};
  return spec;
}

int evalCommand(const Args &args) {
  const CommandSpec &spec = evalCommandSpec();
  int status = 0;
  auto cl = parseCommandLine(args, spec, status);
  if (!cl)
    return status;
  auto batch = positiveIntOption(*cl, "batch", 64);
  if (!batch)
    return report(batch.diags());
  auto threads = parseThreads(*cl);
  if (!threads)
    return report(threads.diags());
  Result<Graph> model = loadModelArgument(*cl);
  if (!model)
    return report(model.diags());
  auto binding = bindInputs(*model, cl->get("bind"));
  if (!binding)
    return report(binding.diags());
  bool withLoss = reportedLoss(*model) != kNoValue;
  if (!withLoss && binding->logits == kNoValue && binding->prediction == kNoValue)
    return fail(fmt::format("model '{}' has no loss and no prediction to score", model->name));
  auto data = readEvaluationData(*cl, *model, *binding);
  if (!data)
    return report(data.diags());
  Graph eval = evaluationGraph(*model, *binding);
  auto engine = createInferenceEngine(eval, *cl, *threads);
  if (!engine)
    return report(engine.diags());
  auto scores = evaluate(*engine->engine, eval, *data, *binding, *batch);
  if (!scores)
    return report(scores.diags());
  std::string text =
      cl->has("json") ? scoreJson(*scores, *data, withLoss) : scoreText(*scores, *data, withLoss);
  std::fputs(text.c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : fail("cannot write to standard output");
}

} // namespace nnc::cli
