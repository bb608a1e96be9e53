/// A progress line on stderr: a redrawn bar on a terminal, plain lines
/// (every tenth of the work) otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace nnc::cli {

class Progress {
public:
  /// `withLoss` false: the lines show no loss (a model without one).
  /// `silent`: prints nothing (a data-parallel run's ranks but the first).
  Progress(std::string label, int64_t total, bool withLoss = true, bool silent = false);
  /// Reports `done` units finished, with the running mean loss.
  void update(int64_t done, int64_t examples, double loss);
  /// Ends the line.
  void finish();

private:
  std::string lossText(double loss) const;

  std::string label_;
  int64_t total_;
  bool terminal_;
  bool withLoss_;
  bool silent_;
  int lastDecile_ = -1;
  double lastPrint_ = -1; ///< seconds of the last terminal line
  std::chrono::steady_clock::time_point start_;
};

} // namespace nnc::cli
