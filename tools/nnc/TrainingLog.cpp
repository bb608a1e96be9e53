/// JSON Lines for `nnc train --log`.
#include "tools/nnc/TrainingLog.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace nnc::cli {

namespace {

/// A JSON string literal.
std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += {'\\', c};
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    else
      out += c;
  }
  return out + "\"";
}

} // namespace

std::string jsonNumber(double v, const char *format) {
  return std::isfinite(v) ? fmt::format(fmt::runtime(format), v) : "null";
}

void JsonLine::key(const std::string &k) {
  body_ += (body_.empty() ? "" : ", ") + quoted(k) + ": ";
}

JsonLine &JsonLine::add(const std::string &k, double value, const char *format) {
  key(k);
  body_ += jsonNumber(value, format);
  return *this;
}

JsonLine &JsonLine::add(const std::string &k, int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonLine &JsonLine::add(const std::string &k, const std::string &value) {
  key(k);
  body_ += quoted(value);
  return *this;
}

Result<TrainingLog> TrainingLog::open(const std::string &path, bool append) {
  TrainingLog log;
  log.path_ = path;
  log.file_.reset(std::fopen(path.c_str(), append ? "a" : "w"));
  if (!log.file_)
    return Result<TrainingLog>::fail("{}: cannot write: {}", path, std::strerror(errno));
  return log;
}

Status TrainingLog::write(const JsonLine &line) {
  std::string text = line.text() + "\n";
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size() ||
      std::fflush(file_.get()) != 0)
    return Status::fail("{}: cannot write: {}", path_,
                        errno ? std::strerror(errno) : "write failed");
  return Ok{};
}

Status TrainingLog::close() {
  std::FILE *f = file_.release();
  if (f && std::fclose(f) != 0)
    return Status::fail("{}: cannot write: {}", path_, std::strerror(errno));
  return Ok{};
}

} // namespace nnc::cli
