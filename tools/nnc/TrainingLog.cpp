/// JSON Lines for `nnc train --log`.
#include "tools/nnc/TrainingLog.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Json.h"

namespace nnc::cli {

std::string jsonNumber(double v, const char *format) {
  return std::isfinite(v) ? fmt::format(fmt::runtime(format), v) : "null";
}

void JsonLine::key(const std::string &k) {
  body_ += (body_.empty() ? "" : ", ") + jsonString(k) + ": ";
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
  body_ += jsonString(value);
  return *this;
}

std::optional<std::string> parseLogLine(std::string_view line, LogRecord &out) {
  JsonScanner p(line, "line");
  auto expected = [&](std::string_view what) {
    p.expected(what);
    return std::optional<std::string>(p.error());
  };
  if (!p.eat('{'))
    return "not a JSON object";
  if (!p.eat('}')) {
    do {
      std::string key, text;
      double number = 0;
      if (!p.string(key, "a quoted key"))
        return p.error();
      if (!p.eat(':'))
        return expected("':'");
      if (p.word("null") || p.word("true") || p.word("false"))
        continue;
      if (p.string(text, "a value"))
        out.strings[key] = text;
      else if (p.number(number))
        out.numbers[key] = number;
      else
        return expected("a value for '" + key + "'");
    } while (p.eat(','));
    if (!p.eat('}'))
      return expected("',' or '}'");
  }
  if (!p.atEnd())
    return "text after the object";
  return std::nullopt;
}

Result<std::vector<LogRecord>> readTrainingLog(const std::string &path) {
  using R = Result<std::vector<LogRecord>>;
  auto text = readWholeFile(path, uint64_t{1} << 30);
  if (!text)
    return R(text.takeDiags());
  std::vector<LogRecord> records;
  std::string_view rest = *text;
  for (int64_t lineNo = 1; !rest.empty(); ++lineNo) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos)
      continue;
    LogRecord record;
    if (std::optional<std::string> why = parseLogLine(line, record))
      return R::fail("{}:{}: not a log line: {}", path, lineNo, *why);
    records.push_back(std::move(record));
  }
  return records;
}

Result<TrainingLog> TrainingLog::open(const std::string &path, bool append) {
  TrainingLog log;
  log.path_ = path;
  log.file_.reset(std::fopen(path.c_str(), append ? "a" : "w"));
  if (!log.file_)
    return Result<TrainingLog>::fail("{}: cannot write: {}", path, std::strerror(errno));
  return log;
}

Result<TrainingLog> TrainingLog::openForResume(const std::string &path, int64_t steps) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    auto text = readWholeFile(path, uint64_t{1} << 30);
    if (!text)
      return Result<TrainingLog>(text.takeDiags());
    std::string kept;
    std::string_view rest = *text;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      LogRecord record;
      bool later = !parseLogLine(line, record) && record.has("step") &&
                   record.numbers.at("step") > static_cast<double>(steps);
      if (!later && !line.empty())
        kept += std::string(line) + "\n";
    }
    if (kept.size() != text->size())
      if (Status s = writeFileAtomically(path, kept); !s)
        return Result<TrainingLog>(s.takeDiags());
  }
  return open(path, true);
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
