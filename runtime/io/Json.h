/// JSON, as nnc's readers meet it: the header of a safetensors file and the
/// lines of a training log. A scanner over the tokens (no document tree, no
/// recursion: each reader writes its grammar on top, bounded by its own
/// shape) and a writer for strings. nnc's own rather than a library: the
/// two uses need a few dozen lines, strict errors with byte offsets, and
/// safety on hostile input (fuzzed with the safetensors reader).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nnc {

/// A cursor over JSON text. Every method skips whitespace first; on failure
/// it returns false and error() says why, as `malformed NOUN: ... at NOUN
/// byte N` ("malformed header: expected ':' at header byte 12, found 'x'").
class JsonScanner {
public:
  JsonScanner(std::string_view text, std::string noun) : text_(text), noun_(std::move(noun)) {}

  bool atEnd();
  /// Consumes `c` if it comes next.
  bool eat(char c);
  /// Consumes a bare word (`true`, `false`, `null`) if it comes next.
  bool word(std::string_view w);
  /// A string literal, escapes resolved (\uXXXX pairs included); `what` is
  /// what the grammar expects, for the error when there is none.
  bool string(std::string &out, std::string_view what);
  /// A non-negative integer at most `max`, written as JSON writes one.
  bool integer(uint64_t &out, uint64_t max);
  /// Any JSON number.
  bool number(double &out);

  /// Fails with "expected WHAT at NOUN byte N, found X".
  bool expected(std::string_view what);
  /// Fails with "malformed NOUN: REASON".
  bool fail(const std::string &reason);
  const std::string &error() const { return error_; }
  size_t position() const { return pos_; }

private:
  void skipSpace();
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  std::string found() const;
  bool hex4(uint32_t &out);

  std::string_view text_;
  std::string noun_;
  size_t pos_ = 0;
  std::string error_;
};

/// `s` (valid UTF-8) as a JSON string literal, escaped as serde_json does.
std::string jsonString(std::string_view s);

} // namespace nnc
