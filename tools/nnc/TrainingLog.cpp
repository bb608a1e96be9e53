/// JSON Lines for `nnc train --log`.
#include "tools/nnc/TrainingLog.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>

#include "runtime/AtomicFile.h"

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

namespace {

/// A cursor over one line of JSON.
class LineParser {
public:
  explicit LineParser(std::string_view text) : text_(text) {}

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool atEnd() {
    skipSpace();
    return pos_ == text_.size();
  }
  bool word(std::string_view w) {
    skipSpace();
    if (text_.substr(pos_, w.size()) != w)
      return false;
    pos_ += w.size();
    return true;
  }
  /// A string literal (escapes kept simple: \" \\ \/ \n \t \uXXXX as '?').
  std::optional<std::string> string() {
    if (!eat('"'))
      return std::nullopt;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\' && pos_ < text_.size()) {
        char e = text_[pos_++];
        if (e == 'u') {
          pos_ = std::min(text_.size(), pos_ + 4);
          c = '?';
        } else {
          c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
      }
      out += c;
    }
    if (pos_ >= text_.size())
      return std::nullopt;
    ++pos_;
    return out;
  }
  std::optional<double> number() {
    skipSpace();
    size_t end = pos_;
    while (end < text_.size() && std::strchr("+-0123456789.eE", text_[end]))
      ++end;
    std::string digits(text_.substr(pos_, end - pos_));
    char *stop = nullptr;
    double v = std::strtod(digits.c_str(), &stop);
    if (digits.empty() || stop != digits.c_str() + digits.size())
      return std::nullopt;
    pos_ = end;
    return v;
  }
  size_t position() const { return pos_; }

private:
  std::string_view text_;
  size_t pos_ = 0;
};

} // namespace

std::optional<std::string> parseLogLine(std::string_view line, LogRecord &out) {
  LineParser p(line);
  if (!p.eat('{'))
    return "not a JSON object";
  if (p.eat('}'))
    return p.atEnd() ? std::nullopt : std::optional<std::string>("text after the object");
  do {
    std::optional<std::string> key = p.string();
    if (!key || !p.eat(':'))
      return fmt::format("expected \"key\": at column {}", p.position() + 1);
    if (std::optional<std::string> s = p.string())
      out.strings[*key] = *s;
    else if (p.word("null") || p.word("true") || p.word("false"))
      continue;
    else if (std::optional<double> v = p.number())
      out.numbers[*key] = *v;
    else
      return fmt::format("expected a value for '{}' at column {}", *key, p.position() + 1);
  } while (p.eat(','));
  if (!p.eat('}'))
    return fmt::format("expected ',' or '}}' at column {}", p.position() + 1);
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
