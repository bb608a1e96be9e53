/// Zeroed memory aligned for the widest vectors (and for the C ABI, which
/// asks 64-byte aligned state and workspace), shared like a std::shared_ptr.
#pragma once

#include <cstdint>
#include <memory>

namespace nnc {

/// The alignment of tensors, state and workspace.
inline constexpr size_t kBufferAlignment = 64;

/// `bytes` of zeros, kBufferAlignment-aligned, rounded up to a multiple of
/// it; never zero bytes, so an empty buffer still has a distinct, valid
/// pointer. Throws std::bad_alloc when the memory is not there.
std::shared_ptr<void> allocateAlignedZeroed(uint64_t bytes);

} // namespace nnc
