/// The elements `slice` takes along its axis: Python's rules for
/// x[start:end:step] with step >= 1 (shared by the shape rule, both engines
/// and the gradient).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace nnc {

struct SliceRange {
  int64_t start = 0; ///< the first index taken
  int64_t step = 1;
  int64_t count = 0; ///< how many are taken
};

/// start and end count from the end when negative and clamp to [0, extent];
/// an absent end is the extent.
inline SliceRange sliceRange(int64_t extent, int64_t start, std::optional<int64_t> end,
                             int64_t step) {
  auto clampIndex = [extent](int64_t i) {
    if (i < 0)
      i += extent;
    return std::clamp<int64_t>(i, 0, extent);
  };
  int64_t first = clampIndex(start), last = end ? clampIndex(*end) : extent;
  int64_t count = last > first ? (last - first + step - 1) / step : 0;
  return SliceRange{first, step, count};
}

} // namespace nnc
