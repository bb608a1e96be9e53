/// Rendering of located diagnostics (IR.md section 5).
#include "ir/Diagnostics.h"

#include <algorithm>

namespace nnc {

namespace {

const char *severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Remark:
    return "remark";
  case Severity::Note:
    return "note";
  }
  return "error";
}

/// The caret line: the source line's tabs are kept so the caret lines up in
/// any terminal, every other character becomes one space.
std::string caretLine(std::string_view line, uint32_t col) {
  std::string out;
  uint32_t c = 1;
  for (size_t i = 0; i < line.size() && c < col; ++i) {
    unsigned char ch = static_cast<unsigned char>(line[i]);
    if ((ch & 0xC0) == 0x80)
      continue; // UTF-8 continuation byte: same column as its lead byte
    out += ch == '\t' ? '\t' : ' ';
    ++c;
  }
  // A column past the end of the line (at most one past it in practice)
  // pads to just after the line, never further.
  for (; c < col && out.size() <= line.size(); ++c)
    out += ' ';
  out += '^';
  return out;
}

/// The byte offset of 1-based column `col` (counted as caretLine counts:
/// UTF-8 continuation bytes share their lead byte's column) in `line`, or
/// line.size() when the line is shorter.
size_t byteOfColumn(std::string_view line, uint32_t col) {
  uint32_t c = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80)
      continue;
    if (++c == col)
      return i;
  }
  return line.size();
}

/// The number of columns (lead bytes) in `text`.
uint32_t columnsIn(std::string_view text) {
  uint32_t n = 0;
  for (char ch : text)
    n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

} // namespace

std::string Diagnostic::render() const {
  std::string out;
  if (loc.known())
    out = fmt::format("{}: {}: {}", loc.str(), severityName(severity), message);
  else
    out = fmt::format("{}: {}", severityName(severity), message);
  if (loc.known() && loc.file && !loc.file->text().empty()) {
    std::string_view line = loc.file->line(loc.line);
    uint32_t col = loc.col;
    // A very long line (generated files) shows a window around the caret.
    constexpr size_t kWindow = 120;
    std::string shown;
    // Columns count characters, offsets count bytes: the window is cut in
    // bytes around the caret's byte, then the caret's column recounted.
    size_t caret = byteOfColumn(line, col);
    if (line.size() > 2 * kWindow && caret > kWindow / 2) {
      size_t start = caret - kWindow / 2;
      while (start < caret && (static_cast<unsigned char>(line[start]) & 0xC0) == 0x80)
        ++start;
      shown = "..." + std::string(line.substr(start, kWindow)) + "...";
      col = 3 + columnsIn(line.substr(start, caret - start)) + 1;
      line = shown;
    } else if (line.size() > 2 * kWindow) {
      shown = std::string(line.substr(0, kWindow)) + "...";
      line = shown;
    }
    out += "\n";
    out += line;
    out += "\n";
    out += caretLine(line, col);
  }
  return out;
}

void Diagnostics::add(Severity severity, SourceLoc loc, std::string message) {
  list_.push_back(Diagnostic{severity, loc, std::move(message)});
}

void Diagnostics::append(const Diagnostics &other) {
  list_.insert(list_.end(), other.list_.begin(), other.list_.end());
}

void Diagnostics::append(std::vector<Diagnostic> other) {
  for (auto &d : other)
    list_.push_back(std::move(d));
}

bool Diagnostics::hasErrors() const { return errorCount() > 0; }

size_t Diagnostics::errorCount() const {
  return std::count_if(list_.begin(), list_.end(),
                       [](const Diagnostic &d) { return d.severity == Severity::Error; });
}

void Diagnostics::sortBySource() {
  std::stable_sort(list_.begin(), list_.end(), [](const Diagnostic &a, const Diagnostic &b) {
    if (a.loc.known() != b.loc.known())
      return !a.loc.known();
    return a.loc < b.loc;
  });
  auto same = [](const Diagnostic &a, const Diagnostic &b) {
    return a.severity == b.severity && a.loc.line == b.loc.line && a.loc.col == b.loc.col &&
           a.message == b.message;
  };
  list_.erase(std::unique(list_.begin(), list_.end(), same), list_.end());
}

std::string Diagnostics::render() const {
  std::string out;
  for (const auto &d : list_) {
    out += d.render();
    out += "\n";
  }
  return out;
}

} // namespace nnc
