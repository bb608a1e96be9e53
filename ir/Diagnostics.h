/// Diagnostics as nnc's own sources write them (include/nnc/Diagnostics.h,
/// with the {fmt} formatting its helpers need): `diags.error(loc, "no value
/// '{}'", name)` checks the format string against its arguments at compile
/// time.
#pragma once

#include "nnc/Diagnostics.h"

#include <fmt/format.h>

namespace nnc::detail {

template <typename... Args> struct MessageFormat {
  using String = fmt::format_string<Args...>;
  static std::string format(String f, Args &&...args) {
    return fmt::format(f, std::forward<Args>(args)...);
  }
};

} // namespace nnc::detail
