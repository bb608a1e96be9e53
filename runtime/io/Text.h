/// Text from files, for readers and their messages: quoting untrusted bytes
/// safely, and UTF-8 checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nnc {

/// Text from a file, made safe to quote in a message: printable ASCII as is,
/// other bytes as \xNN, at most 40 characters (then "...").
std::string printable(std::string_view s);

/// The byte offset of the first invalid UTF-8 sequence in `s`, if any
/// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::optional<size_t> invalidUtf8At(std::string_view s);

/// Appends code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void appendUtf8(std::string &out, uint32_t cp);

} // namespace nnc
