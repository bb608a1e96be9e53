/// Splits a model file into tokens (IR.md section 1, lexical rules).
#pragma once

#include "ir/Diagnostics.h"
#include "nnc/SourceLoc.h"

#include <string>
#include <string_view>
#include <vector>

namespace nnc {

enum class Tok : uint8_t {
  Ident,
  Number,
  String, ///< `"text"`; Token::text holds the characters, escapes resolved
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Equal,
  Arrow, ///< `<-`
  Plus,
  Minus,
  Star,
  Slash,
  Semicolon,
  Newline, ///< a statement end (only outside brackets and parentheses)
  Eof,
};

/// How a token kind reads in messages: `'('`, `a name`, `end of line`.
const char *tokenDescription(Tok t);

struct Token {
  Tok kind = Tok::Eof;
  std::string text;
  double number = 0; ///< for Number
  SourceLoc loc;
  bool unclosed = false; ///< an opening bracket that is never closed
};

/// Tokenizes `file`. Newlines inside parentheses and brackets (not braces)
/// are dropped, so a call or literal may span lines. Lexical errors (bad
/// characters, numbers that are not finite f32s, unclosed or unmatched
/// brackets) go to `diags`; the token stream is still usable.
std::vector<Token> tokenize(const SourceFile &file, Diagnostics &diags);

/// Whether `name` is a reserved statement keyword.
bool isKeyword(std::string_view name);

} // namespace nnc
