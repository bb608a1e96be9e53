/// Progress reporting for `nnc train`.
#include "tools/nnc/Progress.h"

#include <cstdio>
#include <unistd.h>

namespace nnc::cli {

Progress::Progress(std::string label, int64_t total, bool withLoss, bool silent)
    : label_(std::move(label)), total_(total > 0 ? total : 1), terminal_(::isatty(2) != 0),
      withLoss_(withLoss), silent_(silent), start_(std::chrono::steady_clock::now()) {}

std::string Progress::lossText(double loss) const {
  if (!withLoss_)
    return "";
  char text[32];
  std::snprintf(text, sizeof text, " loss %.4f", loss);
  return text;
}

void Progress::update(int64_t done, int64_t examples, double loss) {
  if (silent_)
    return;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = seconds > 0 ? static_cast<double>(examples) / seconds : 0;
  double eta =
      done > 0 ? seconds * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
  if (terminal_) {
    // A line at most every 100 ms (and the last one): a write per step
    // would cost small models a good share of their step time.
    if (done < total_ && seconds - lastPrint_ < 0.1)
      return;
    lastPrint_ = seconds;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * done / total_);
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld%s %.0f ex/s ETA %.0fs ", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_),
                 lossText(loss).c_str(), rate, eta);
    return;
  }
  int decile = static_cast<int>(10 * done / total_);
  if (decile == lastDecile_)
    return;
  lastDecile_ = decile;
  std::fprintf(stderr, "%s %lld/%lld%s %.0f ex/s ETA %.0fs\n", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), lossText(loss).c_str(),
               rate, eta);
}

void Progress::finish() {
  if (terminal_ && !silent_)
    std::fputc('\n', stderr);
}

} // namespace nnc::cli
