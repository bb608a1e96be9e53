/// Aligned, zeroed buffers.
#include "runtime/AlignedMemory.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace nnc {

std::shared_ptr<void> allocateAlignedZeroed(uint64_t bytes) {
  uint64_t size = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  if (size == 0)
    size = kBufferAlignment;
  void *p = std::aligned_alloc(kBufferAlignment, static_cast<size_t>(size));
  if (!p)
    throw std::bad_alloc();
  std::memset(p, 0, static_cast<size_t>(size));
  return std::shared_ptr<void>(p, [](void *q) { std::free(q); });
}

} // namespace nnc
