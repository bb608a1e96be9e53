/// Located diagnostics: user mistakes are values, reported as
/// `file:line:col: error: message`, the source line, and a caret.
#pragma once

#include "nnc/SourceLoc.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace nnc {
namespace detail {
/// How nnc's own sources format a message: {fmt}'s compile-time checked
/// format strings, defined in ir/Diagnostics.h. The formatting helpers
/// below (error, warning, remark, Result::fail) are for nnc's sources; a
/// program using nnc reads diagnostics and never instantiates them, so the
/// public headers need no {fmt}.
template <typename... Args> struct MessageFormat;
template <typename... Args> using FormatString = typename MessageFormat<Args...>::String;
template <typename... Args> std::string formatMessage(FormatString<Args...> f, Args &&...args) {
  return MessageFormat<Args...>::format(f, std::forward<Args>(args)...);
}
} // namespace detail
} // namespace nnc

#pragma GCC visibility push(default)

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
  void error(SourceLoc loc, detail::FormatString<Args...> f, Args &&...args) {
    add(Severity::Error, loc, detail::formatMessage<Args...>(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warning(SourceLoc loc, detail::FormatString<Args...> f, Args &&...args) {
    add(Severity::Warning, loc, detail::formatMessage<Args...>(f, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void remark(SourceLoc loc, detail::FormatString<Args...> f, Args &&...args) {
    add(Severity::Remark, loc, detail::formatMessage<Args...>(f, std::forward<Args>(args)...));
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

#pragma GCC visibility pop
