/// Checkpoints in the safetensors format (what Python's `safetensors` package
/// reads and writes): parameters and optimizer state by their declared names.
#pragma once

#include "ir/Result.h"
#include "runtime/Tensor.h"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nnc {

/// Named tensors, in file order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The bytes of a safetensors file: an 8-byte little-endian header length, a
/// compact JSON header `{"__metadata__": {...}, "NAME": {"dtype": "F32",
/// "shape": [...], "data_offsets": [BEGIN, END]}, ...}` padded with spaces to
/// a multiple of 8 bytes, then the tensors' little-endian data back to back
/// in the order given. `__metadata__` is left out when `metadata` is empty.
/// An error for a duplicate or reserved (`__metadata__`) name or a tensor
/// without storage.
Result<std::string> encodeSafetensors(const NamedTensors &tensors,
                                      const std::map<std::string, std::string> &metadata);

/// Writes encodeSafetensors(tensors, metadata) to `path` atomically (see
/// writeFileAtomically).
Status writeSafetensors(const std::string &path, const NamedTensors &tensors,
                        const std::map<std::string, std::string> &metadata);

/// Parses the bytes of a whole safetensors file holding F32 and I32 tensors;
/// `name` starts every message (`name: truncated: ...`). Strict, like the
/// reference implementation: the header must be one JSON object of tensor
/// entries and an optional `__metadata__` object of strings; names unique;
/// each tensor's data_offsets must match its shape, and the tensors must
/// cover the data exactly, without overlaps or gaps. Safe on arbitrary bytes:
/// bounded, non-recursive, never reads outside `bytes`, and allocates in
/// proportion to their size. The metadata goes to `*metadata` when given.
Result<NamedTensors> parseSafetensors(std::string_view bytes, const std::string &name,
                                      std::map<std::string, std::string> *metadata = nullptr);

/// Reads a safetensors file (see parseSafetensors).
Result<NamedTensors> readSafetensors(const std::string &path,
                                     std::map<std::string, std::string> *metadata = nullptr);

} // namespace nnc
