/// The JSON scanner and string writer.
#include "runtime/io/Json.h"

#include "runtime/io/Text.h"

#include <fmt/format.h>

#include <cstdlib>

namespace nnc {

void JsonScanner::skipSpace() {
  while (pos_ < text_.size() &&
         (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
    ++pos_;
}

bool JsonScanner::atEnd() {
  skipSpace();
  return pos_ >= text_.size();
}

bool JsonScanner::eat(char c) {
  skipSpace();
  if (pos_ >= text_.size() || text_[pos_] != c)
    return false;
  ++pos_;
  return true;
}

bool JsonScanner::word(std::string_view w) {
  skipSpace();
  if (text_.substr(pos_, w.size()) != w)
    return false;
  pos_ += w.size();
  return true;
}

std::string JsonScanner::found() const {
  if (pos_ >= text_.size())
    return "the end of the " + noun_;
  return "'" + printable(text_.substr(pos_, 1)) + "'";
}

bool JsonScanner::fail(const std::string &reason) {
  error_ = "malformed " + noun_ + ": " + reason;
  return false;
}

bool JsonScanner::expected(std::string_view what) {
  skipSpace();
  return fail(fmt::format("expected {} at {} byte {}, found {}", what, noun_, pos_, found()));
}

/// string ::= '"' (char | '\' escape)* '"', no raw control characters.
bool JsonScanner::string(std::string &out, std::string_view what) {
  skipSpace();
  if (peek() != '"')
    return expected(what);
  ++pos_;
  for (;;) {
    if (pos_ >= text_.size())
      return fail("unterminated string");
    char c = text_[pos_];
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (static_cast<unsigned char>(c) < 0x20)
      return fail(fmt::format("control character \\x{:02x} in a string at {} byte {}",
                              static_cast<unsigned char>(c), noun_, pos_));
    if (c != '\\') {
      out += c;
      ++pos_;
      continue;
    }
    size_t escape = pos_++;
    char e = peek();
    ++pos_;
    switch (e) {
    case '"':
    case '\\':
    case '/':
      out += e;
      break;
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      uint32_t cp = 0;
      if (!hex4(cp))
        return false;
      if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(fmt::format("lone surrogate \\u{:04x} at {} byte {}", cp, noun_, escape));
      if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t low = 0;
        if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !hex4(low)) || low < 0xdc00 ||
            low > 0xdfff)
          return fail(fmt::format("lone surrogate \\u{:04x} at {} byte {}", cp, noun_, escape));
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      }
      appendUtf8(out, cp);
      break;
    }
    default:
      pos_ = escape;
      return fail(fmt::format("bad escape '\\{}' at {} byte {}", printable(std::string_view(&e, 1)),
                              noun_, escape));
    }
  }
}

bool JsonScanner::hex4(uint32_t &out) {
  out = 0;
  for (int i = 0; i < 4; ++i, ++pos_) {
    char c = peek();
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0)
      return expected("four hex digits after '\\u'");
    out = out * 16 + static_cast<uint32_t>(v);
  }
  return true;
}

/// integer ::= '0' | [1-9][0-9]*  (JSON's, without sign, fraction or exponent)
bool JsonScanner::integer(uint64_t &out, uint64_t max) {
  skipSpace();
  size_t start = pos_;
  if (peek() == '-')
    return fail(fmt::format("negative number at {} byte {}", noun_, start));
  if (peek() < '0' || peek() > '9')
    return expected("a non-negative integer");
  out = 0;
  while (peek() >= '0' && peek() <= '9') {
    if (out > max)
      return fail(fmt::format("integer at {} byte {} is too large", noun_, start));
    out = out * 10 + static_cast<uint64_t>(peek() - '0');
    ++pos_;
  }
  if (pos_ - start > 1 && text_[start] == '0')
    return fail(fmt::format("leading zero in the number at {} byte {}", noun_, start));
  if (peek() == '.' || peek() == 'e' || peek() == 'E')
    return fail(fmt::format("expected an integer at {} byte {}", noun_, start));
  if (out > max)
    return fail(fmt::format("integer at {} byte {} is too large", noun_, start));
  return true;
}

bool JsonScanner::number(double &out) {
  skipSpace();
  size_t end = pos_;
  while (end < text_.size() &&
         std::string_view("+-0123456789.eE").find(text_[end]) != std::string_view::npos)
    ++end;
  std::string digits(text_.substr(pos_, end - pos_));
  char *stop = nullptr;
  out = std::strtod(digits.c_str(), &stop);
  if (digits.empty() || stop != digits.c_str() + digits.size())
    return expected("a number");
  pos_ = end;
  return true;
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    switch (ch) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(ch) < 0x20)
        out += fmt::format("\\u{:04x}", static_cast<unsigned char>(ch));
      else
        out += ch;
    }
  }
  return out + "\"";
}

} // namespace nnc
