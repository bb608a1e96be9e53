/// Source files and positions: every token, node and diagnostic of a model
/// knows the `file:line:col` it came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#pragma GCC visibility push(default)

namespace nnc {

/// The text of one model file (or of stdin, or of a C++ DSL source). Source
/// files live as long as the process: locations point into them freely.
class SourceFile {
public:
  /// Registers text under a display name and returns the permanent copy.
  static const SourceFile *add(std::string name, std::string text);

  const std::string &name() const { return name_; }
  const std::string &text() const { return text_; }
  /// The text of 1-based line `line`, without its newline ("" past the end).
  std::string_view line(uint32_t line) const;

private:
  SourceFile(std::string name, std::string text);
  std::string name_;
  std::string text_;
};

/// A position in a source file. Columns count characters (UTF-8 code points)
/// from 1. A default-constructed location is "unknown".
struct SourceLoc {
  const SourceFile *file = nullptr;
  uint32_t line = 0;
  uint32_t col = 0;

  bool known() const { return line != 0; }
  /// `file:line:col`, or `<unknown>`.
  std::string str() const;
  /// Orders by file name, then position (diagnostics print in source order).
  friend bool operator<(const SourceLoc &a, const SourceLoc &b) {
    if (a.file != b.file && a.file && b.file && a.file->name() != b.file->name())
      return a.file->name() < b.file->name();
    if (a.line != b.line)
      return a.line < b.line;
    return a.col < b.col;
  }
};

} // namespace nnc

#pragma GCC visibility pop
