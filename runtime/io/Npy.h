/// NumPy `.npy` files: reading and writing little-endian f32/i32 tensors.
#pragma once

#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <string>
#include <string_view>

namespace nnc {

/// Reads a `.npy` file: format version 1.0, 2.0 or 3.0, dtype `<f4` or `<i4`,
/// C order, any rank (a 0-d array gives a rank-0 tensor). Every problem is an
/// error naming the file and the reason, e.g.
/// `x.npy: unsupported dtype '<f8' (nnc reads <f4 and <i4)` or
/// `x.npy: cannot open: No such file or directory`. Reads at most what the
/// header promises plus one byte, so a hostile stream cannot exhaust memory.
Result<Tensor> readNpy(const std::string &path);

/// Parses the bytes of a whole `.npy` file; `nameForErrors` starts every
/// message. Safe on arbitrary bytes: never reads outside `bytes`, never
/// allocates more than `bytes.size()` for the tensor.
Result<Tensor> parseNpy(std::string_view bytes, const std::string &nameForErrors);

/// The bytes of a format 1.0 `.npy` file holding `t` (what numpy.save writes:
/// the header padded with spaces to a multiple of 64 bytes, then the data).
std::string encodeNpy(const Tensor &t);

/// Writes `t` to `path` atomically: the bytes go to `path + ".tmp.<pid>"` in
/// the same directory, are fsync'ed, and the temporary file is renamed over
/// `path`. On failure the temporary file is removed and `path` is untouched.
Status writeNpy(const std::string &path, const Tensor &t);

} // namespace nnc
