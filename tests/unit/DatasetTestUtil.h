/// Helpers of the data-set tests (DatasetTest.cpp, BatcherTest.cpp).
#pragma once

#include "runtime/io/Dataset.h"

#include <string>
#include <vector>

namespace nnc::datatest {

/// The text of `r`'s single error ("<not one error>" otherwise).
template <typename T> inline std::string message(const Result<T> &r) {
  if (r.ok() || r.diags().list().size() != 1)
    return "<not one error>";
  return r.diags().list()[0].message;
}

/// A dataset of `n` examples of shape `example`, feature values 100*row + k
/// and label row % 10.
inline Dataset synthetic(int64_t n, std::vector<int64_t> example) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), example.begin(), example.end());
  Dataset d{Tensor(DType::F32, shape), Tensor(DType::I32, {n}), "synthetic", false, ""};
  int64_t e = d.exampleElements();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t k = 0; k < e; ++k)
      d.features.f32()[r * e + k] = static_cast<float>(100 * r + k);
    d.labels.i32()[r] = static_cast<int32_t>(r % 10);
  }
  return d;
}

} // namespace nnc::datatest
