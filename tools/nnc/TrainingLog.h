/// The `--log` file of `nnc train`: JSON Lines, one object per line, every
/// write checked. Non-finite numbers are written as `null` (JSON has no NaN
/// or infinity), so every line stays valid JSON.
#pragma once

#include "ir/Result.h"

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

namespace nnc::cli {

/// One JSON object built key by key, in order.
class JsonLine {
public:
  JsonLine &add(const std::string &key, double value, const char *format = "{:.6g}");
  JsonLine &add(const std::string &key, int64_t value);
  JsonLine &add(const std::string &key, const std::string &value);
  std::string text() const { return "{" + body_ + "}"; }

private:
  void key(const std::string &k);
  std::string body_;
};

/// A number as JSON: `null` when it is NaN or infinite.
std::string jsonNumber(double v, const char *format = "{:.6g}");

/// One line of a log read back: its numbers by key (null, a non-finite
/// number, is absent), and its string values.
struct LogRecord {
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;
  bool has(const std::string &key) const { return numbers.count(key) > 0; }
};

/// Reads a JSON Lines log (what `--log` writes: flat objects of numbers,
/// strings, booleans and nulls). An error names the file, line and what is
/// wrong; blank lines are skipped.
Result<std::vector<LogRecord>> readTrainingLog(const std::string &path);

/// Parses one flat JSON object; the reason when it is not one.
std::optional<std::string> parseLogLine(std::string_view line, LogRecord &out);

class TrainingLog {
public:
  /// Opens `path` for writing (truncating it), or for appending with
  /// `append` (a resumed run). The error names the file.
  static Result<TrainingLog> open(const std::string &path, bool append);
  /// Opens the log of a resumed run: lines of steps after `steps` (written
  /// after the checkpoint it resumes, by a run that went on and was stopped)
  /// are dropped first, so the steps of the log go up without repeats.
  static Result<TrainingLog> openForResume(const std::string &path, int64_t steps);
  /// Writes one line and flushes it; a failed write (a full disk) is an
  /// error naming the file.
  Status write(const JsonLine &line);
  /// Closes the file, reporting a write error that only the close shows.
  Status close();

private:
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE *)> file_{nullptr, std::fclose};
};

} // namespace nnc::cli
