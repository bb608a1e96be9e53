/// nnc's small result type: a value, or the located diagnostics that explain
/// why there is none (in the spirit of llvm::Expected, without LLVM).
#pragma once

#include "nnc/Diagnostics.h"

#include <cassert>
#include <optional>
#include <utility>

namespace nnc {

/// Either a T or a non-empty list of diagnostics with at least one error.
template <typename T> class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(Diagnostics diags) : diags_(std::move(diags)) {
    assert(diags_.hasErrors() && "a failed Result needs an error");
  }

  /// A failure with one unlocated error.
  template <typename... Args> static Result fail(detail::FormatString<Args...> f, Args &&...args) {
    Diagnostics d;
    d.add(Severity::Error, {}, detail::formatMessage<Args...>(f, std::forward<Args>(args)...));
    return Result(std::move(d));
  }
  /// A failure with one located error.
  template <typename... Args>
  static Result failAt(SourceLoc loc, detail::FormatString<Args...> f, Args &&...args) {
    Diagnostics d;
    d.add(Severity::Error, loc, detail::formatMessage<Args...>(f, std::forward<Args>(args)...));
    return Result(std::move(d));
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  T &value() & { return *value_; }
  const T &value() const & { return *value_; }
  T &&value() && { return std::move(*value_); }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }
  T &operator*() { return *value_; }
  const T &operator*() const { return *value_; }

  const Diagnostics &diags() const { return diags_; }
  Diagnostics takeDiags() { return std::move(diags_); }
  /// Rendered diagnostics, for messages and tests.
  std::string errorText() const { return diags_.render(); }

private:
  std::optional<T> value_;
  Diagnostics diags_;
};

/// The result of an operation that produces nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

} // namespace nnc
