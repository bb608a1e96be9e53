/// `nnc plot LOG.jsonl ... -o curves.svg`: the loss and accuracy curves of
/// training logs (`nnc train --log`, with --log-every for per-step points)
/// as an SVG picture.
#include "tools/nnc/CommandLine.h"
#include "tools/nnc/Commands.h"
#include "tools/nnc/OutputFile.h"
#include "tools/nnc/SvgChart.h"
#include "tools/nnc/TrainingLog.h"

#include <filesystem>

namespace nnc::cli {

namespace {

/// Colors of the runs (one hue per log), and lighter ones for step points.
const char *kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
const char *kLightColors[] = {"#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#ffbb78", "#c49c94"};

/// The points (x, record[key]) of the records that have `key`.
std::vector<std::pair<double, double>> pointsOf(const std::vector<LogRecord> &log,
                                                const std::string &xKey, const std::string &key) {
  std::vector<std::pair<double, double>> points;
  for (const LogRecord &r : log)
    if (r.has(key) && r.has(xKey))
      points.emplace_back(r.numbers.at(xKey), r.numbers.at(key));
  return points;
}

/// x is the step where every line has one (logs of this nnc), else the epoch.
std::string xKeyOf(const std::vector<std::vector<LogRecord>> &logs) {
  for (const auto &log : logs)
    for (const LogRecord &r : log)
      if (!r.has("step"))
        return "epoch";
  return "step";
}

} // namespace

const CommandSpec &plotCommandSpec() {
  static const CommandSpec spec{
      "plot",
      "LOG.jsonl [LOG2.jsonl ...] -o CURVES.svg",
      "loss and accuracy curves of training logs as SVG",
      "Draws the curves of one or more `nnc train --log` files: the training loss (per\n"
      "step with --log-every, and per epoch) and the held-out loss in one chart, the\n"
      "held-out accuracy in another, against the step (or the epoch for older logs).\n"
      "Several logs are drawn in several colors, named after their files.",
      {required(option("o", "CURVES.svg", "the picture to write ('-' for stdout)"))},
      {"nnc train examples/mlp.ir --data /usr/share/datasets/fashion-mnist --epochs 5 "
       "--log-every 50 --log mlp.jsonl && nnc plot mlp.jsonl -o mlp.svg"},
      Positionals::OneOrMore};
  return spec;
}

int plotCommand(const Args &args) {
  const CommandSpec &spec = plotCommandSpec();
  int status = 0;
  auto cl = parseCommandLine(args, spec, status);
  if (!cl)
    return status;
  std::vector<std::vector<LogRecord>> logs;
  for (const std::string &path : cl->positional) {
    auto log = readTrainingLog(path);
    if (!log)
      return report(log.diags());
    logs.push_back(std::move(log).value());
  }
  std::string xKey = xKeyOf(logs);
  Chart loss{"loss", xKey, {}}, accuracy{"held-out accuracy", xKey, {}};
  for (size_t i = 0; i < logs.size(); ++i) {
    std::string run =
        logs.size() > 1 ? std::filesystem::path(cl->positional[i]).stem().string() + ": " : "";
    const char *color = kColors[i % std::size(kColors)];
    const char *light = kLightColors[i % std::size(kLightColors)];
    loss.series.push_back({run + "train (steps)", light, pointsOf(logs[i], xKey, "loss"), true});
    loss.series.push_back(
        {run + "train", color, pointsOf(logs[i], xKey, "train_loss"), false, true});
    loss.series.push_back({run + "held-out", i == 0 ? "#ff7f0e" : light,
                           pointsOf(logs[i], xKey, "test_loss"), false, true});
    accuracy.series.push_back(
        {run + "held-out", color, pointsOf(logs[i], xKey, "test_accuracy"), false, true});
  }
  bool anyAccuracy = false;
  for (const Series &s : accuracy.series)
    anyAccuracy = anyAccuracy || !s.points.empty();
  std::vector<Chart> charts{loss};
  if (anyAccuracy)
    charts.push_back(accuracy);
  return writeOutput(cl->get("o"), svgCharts(charts));
}

} // namespace nnc::cli
