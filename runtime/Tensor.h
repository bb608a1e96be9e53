/// A dense tensor: f32 or i32, a static shape, 64-byte-aligned storage.
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace nnc {

/// A dense, C-order tensor whose storage is shared on copy (like a
/// std::shared_ptr); `clone()` makes an independent copy.
class Tensor {
public:
  Tensor() = default;
  /// A zero-filled tensor. Throws std::length_error when the shape has a
  /// negative extent or more than maxTensorBytes() bytes (ir/Limits.h):
  /// check with tensorSizeProblem() first where sizes come from users.
  Tensor(DType dtype, std::vector<int64_t> shape);

  static Tensor scalar(float v);
  static Tensor f32(std::vector<int64_t> shape, std::span<const float> values);
  static Tensor i32(std::vector<int64_t> shape, std::span<const int32_t> values);
  /// A view of memory the caller owns, neither copied nor freed: it must
  /// outlive every use of the tensor (the C API's inputs). The caller
  /// checks the size (checkedElements); `data` may be null when it is 0.
  static Tensor borrow(DType dtype, std::vector<int64_t> shape, void *data);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_[i]; }
  int64_t numel() const { return numel_; }
  int64_t bytes() const { return numel_ * 4; }
  bool empty() const { return !storage_; }

  float *f32() { return static_cast<float *>(data()); }
  const float *f32() const { return static_cast<const float *>(data()); }
  int32_t *i32() { return static_cast<int32_t *>(data()); }
  const int32_t *i32() const { return static_cast<const int32_t *>(data()); }
  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }

  /// Element i (C order) as a double, whatever the dtype.
  double at(int64_t i) const;
  /// Sets element i (C order), converting to the dtype.
  void set(int64_t i, double v);

  Tensor clone() const;
  /// Whether this handle is the only one on its storage (so writing it
  /// changes no other tensor).
  bool unshared() const { return storage_ && storage_.use_count() == 1; }
  /// `f32[2, 3]` (for messages).
  std::string typeString() const;

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
};

/// Row-major strides of a shape.
std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape);

} // namespace nnc
