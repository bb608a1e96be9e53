/// Resource limits: how large one tensor (and a model's state) may be and
/// how large a model file may be, with overflow-checked size arithmetic.
/// Exceeding a limit is a clear error, never an out-of-memory kill.
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace nnc {

/// The default of maxTensorBytes(): 16 GiB.
inline constexpr int64_t kDefaultMaxTensorBytes = int64_t(1) << 34;
/// The default of maxModelFileBytes(): 64 MiB of model text.
inline constexpr int64_t kDefaultMaxModelFileBytes = int64_t(64) << 20;

/// The most bytes one tensor may take, and all params and state of a model
/// together, and one call's workspace: the environment variable
/// NNC_MAX_TENSOR_BYTES (a positive integer; K, M, G suffixes are powers of
/// 1024), else kDefaultMaxTensorBytes. Read once per process.
int64_t maxTensorBytes();

/// The largest model file loadModelFile() reads: NNC_MAX_MODEL_BYTES, else
/// kDefaultMaxModelFileBytes. Read once per process.
int64_t maxModelFileBytes();

/// The product of `extents`, or nullopt when one is negative or the product
/// overflows int64.
std::optional<int64_t> checkedElements(std::span<const int64_t> extents);

/// Why a tensor of `dtype` and `extents` may not exist (too many elements to
/// count, or more bytes than maxTensorBytes()), as a message fragment such as
/// `f32[100000, 100000] needs 40000000000 bytes, more than the limit of
/// 17179869184 (set NNC_MAX_TENSOR_BYTES to change it)`; nullopt when it may.
std::optional<std::string> tensorSizeProblem(DType dtype, std::span<const int64_t> extents);

} // namespace nnc
