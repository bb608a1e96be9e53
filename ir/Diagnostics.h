/// Located diagnostics: user mistakes are values, reported as
/// `file:line:col: error: message`, the source line, and a caret.
#pragma once

#include "ir/SourceLoc.h"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace nnc {

enum class Severity { Error, Warning, Remark, Note };

/// One message about one place in a model (or about no place at all, when
/// `loc` is unknown: a data file, a command-line flag).
struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;

  /// The full rendering: header line, then the source line and a caret
  /// when the location is known.
  std::string render() const;
};

/// An ordered collection of diagnostics. Producers append; consumers sort by
/// location (errors are reported in source order) and render.
class Diagnostics {
public:
  template <typename... Args>
  void error(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    add(Severity::Error, loc, fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warning(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    add(Severity::Warning, loc, fmt::format(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void remark(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    add(Severity::Remark, loc, fmt::format(f, std::forward<Args>(args)...));
  }

  void add(Severity severity, SourceLoc loc, std::string message);
  void append(const Diagnostics &other);
  void append(std::vector<Diagnostic> other);

  bool hasErrors() const;
  size_t errorCount() const;
  bool empty() const { return list_.empty(); }
  const std::vector<Diagnostic> &list() const { return list_; }
  std::vector<Diagnostic> take() { return std::move(list_); }

  /// Stable-sorts by position (unknown locations keep their place at the
  /// front) and drops exact duplicates.
  void sortBySource();
  /// All diagnostics, rendered and separated by newlines.
  std::string render() const;

private:
  std::vector<Diagnostic> list_;
};

} // namespace nnc
