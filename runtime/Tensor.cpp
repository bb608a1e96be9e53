/// Tensor storage: 64-byte aligned, zero-initialized.
#include "runtime/Tensor.h"

#include "ir/Limits.h"
#include "runtime/AlignedMemory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace nnc {

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  // The last line of defence: callers check sizes against the limit first
  // and report a located error (checkValueSizes, the verifier, the readers).
  if (std::optional<std::string> problem = tensorSizeProblem(dtype_, shape_))
    throw std::length_error("nnc: cannot allocate a tensor: " + *problem);
  numel_ = *checkedElements(shape_);
  storage_ = allocateAlignedZeroed(static_cast<uint64_t>(numel_) * 4);
}

Tensor Tensor::borrow(DType dtype, std::vector<int64_t> shape, void *data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = *checkedElements(t.shape_);
  static float none; // a valid address for an empty view
  t.storage_ = std::shared_ptr<void>(data ? data : &none, [](void *) {});
  return t;
}

Tensor Tensor::scalar(float v) {
  Tensor t(DType::F32, {});
  t.f32()[0] = v;
  return t;
}

Tensor Tensor::f32(std::vector<int64_t> shape, std::span<const float> values) {
  Tensor t(DType::F32, std::move(shape));
  size_t count = std::min<size_t>(values.size(), static_cast<size_t>(t.numel()));
  if (count > 0) // an empty span may have a null data() that memcpy must not see
    std::memcpy(t.data(), values.data(), count * 4);
  return t;
}

Tensor Tensor::i32(std::vector<int64_t> shape, std::span<const int32_t> values) {
  Tensor t(DType::I32, std::move(shape));
  size_t count = std::min<size_t>(values.size(), static_cast<size_t>(t.numel()));
  if (count > 0) // an empty span may have a null data() that memcpy must not see
    std::memcpy(t.data(), values.data(), count * 4);
  return t;
}

double Tensor::at(int64_t i) const {
  return dtype_ == DType::F32 ? static_cast<double>(f32()[i]) : static_cast<double>(i32()[i]);
}

void Tensor::set(int64_t i, double v) {
  if (dtype_ == DType::F32)
    f32()[i] = static_cast<float>(v);
  else
    i32()[i] = static_cast<int32_t>(v);
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (numel_ > 0)
    std::memcpy(t.data(), data(), static_cast<size_t>(bytes()));
  return t;
}

std::string Tensor::typeString() const {
  std::string s = std::string(dtypeName(dtype_)) + "[";
  for (size_t i = 0; i < shape_.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * shape[i];
  return strides;
}

} // namespace nnc
