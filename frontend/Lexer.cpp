/// The lexer: characters to tokens, negative numbers, bracket matching.
#include "frontend/Lexer.h"

#include <cmath>
#include <cstdlib>

namespace nnc {

const char *tokenDescription(Tok t) {
  switch (t) {
  case Tok::Ident:
    return "a name";
  case Tok::Number:
    return "a number";
  case Tok::String:
    return "a string";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::LBracket:
    return "'['";
  case Tok::RBracket:
    return "']'";
  case Tok::LBrace:
    return "'{'";
  case Tok::RBrace:
    return "'}'";
  case Tok::Comma:
    return "','";
  case Tok::Colon:
    return "':'";
  case Tok::Equal:
    return "'='";
  case Tok::Arrow:
    return "'<-'";
  case Tok::Plus:
    return "'+'";
  case Tok::Minus:
    return "'-'";
  case Tok::Star:
    return "'*'";
  case Tok::Slash:
    return "'/'";
  case Tok::Semicolon:
    return "';'";
  case Tok::Newline:
    return "end of line";
  case Tok::Eof:
    return "end of file";
  }
  return "a token";
}

bool isKeyword(std::string_view name) {
  static const char *const keywords[] = {"model", "dim",    "input",    "param", "state",
                                         "const", "output", "minimize", "with"};
  for (const char *k : keywords)
    if (name == k)
      return true;
  return false;
}

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '.'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

/// After these tokens an operand is expected, so `-` followed by a digit
/// starts a negative number.
bool expectsOperand(Tok previous) {
  switch (previous) {
  case Tok::LParen:
  case Tok::LBracket:
  case Tok::Comma:
  case Tok::Equal:
  case Tok::Arrow:
  case Tok::Plus:
  case Tok::Minus:
  case Tok::Star:
  case Tok::Slash:
    return true;
  default:
    return false;
  }
}

class Lexer {
public:
  Lexer(const SourceFile &file, Diagnostics &diags)
      : file_(file), text_(file.text()), diags_(diags) {}

  std::vector<Token> run() {
    std::vector<Token> raw;
    Tok previous = Tok::Newline;
    while (true) {
      Token t = next(previous);
      previous = t.kind;
      raw.push_back(std::move(t));
      if (raw.back().kind == Tok::Eof)
        break;
    }
    matchBrackets(raw);
    return dropInnerNewlines(raw);
  }

private:
  SourceLoc here() const { return SourceLoc{&file_, line_, col_}; }

  void advance() {
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    ++pos_;
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++col_;
    } else {
      // A continuation byte: the column was counted at the lead byte.
    }
  }

  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  Token make(Tok kind, SourceLoc loc, size_t start) {
    Token t;
    t.kind = kind;
    t.loc = loc;
    t.text = std::string(text_.substr(start, pos_ - start));
    return t;
  }

  void skipSpaceAndComments() {
    while (pos_ < text_.size()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r') {
        advance();
      } else if (c == '#') {
        while (pos_ < text_.size() && peek() != '\n')
          advance();
      } else {
        break;
      }
    }
  }

  /// number ::= [0-9]+ ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
  Token lexNumber(SourceLoc loc, size_t start) {
    while (isDigit(peek()))
      advance();
    if (peek() == '.' && isDigit(peek(1))) {
      advance();
      while (isDigit(peek()))
        advance();
    }
    if ((peek() == 'e' || peek() == 'E') &&
        (isDigit(peek(1)) || ((peek(1) == '+' || peek(1) == '-') && isDigit(peek(2))))) {
      advance();
      if (peek() == '+' || peek() == '-')
        advance();
      while (isDigit(peek()))
        advance();
    }
    Token t = make(Tok::Number, loc, start);
    t.number = std::strtod(t.text.c_str(), nullptr);
    if (!std::isfinite(static_cast<float>(t.number))) {
      diags_.error(loc, "number {} is not a finite f32", t.text);
      t.number = 0;
    }
    if (isIdentStart(peek()) || peek() == '.')
      diags_.error(here(), "unexpected character '{}' after number {}", peek(), t.text);
    return t;
  }

  Token next(Tok previous) {
    skipSpaceAndComments();
    SourceLoc loc = here();
    size_t start = pos_;
    if (pos_ >= text_.size())
      return make(Tok::Eof, loc, start);
    char c = peek();
    if (c == '\n') {
      advance();
      return make(Tok::Newline, loc, start);
    }
    if (isIdentStart(c)) {
      while (isIdentChar(peek()))
        advance();
      return make(Tok::Ident, loc, start);
    }
    if (isDigit(c))
      return lexNumber(loc, start);
    if (c == '"')
      return lexString(loc, start);
    if (c == '-' && isDigit(peek(1)) && expectsOperand(previous)) {
      advance();
      return lexNumber(loc, start); // the text, and so the value, has the '-'
    }
    if (c == '<' && peek(1) == '-') {
      advance();
      advance();
      return make(Tok::Arrow, loc, start);
    }
    Tok kind;
    switch (c) {
    case '(':
      kind = Tok::LParen;
      break;
    case ')':
      kind = Tok::RParen;
      break;
    case '[':
      kind = Tok::LBracket;
      break;
    case ']':
      kind = Tok::RBracket;
      break;
    case '{':
      kind = Tok::LBrace;
      break;
    case '}':
      kind = Tok::RBrace;
      break;
    case ',':
      kind = Tok::Comma;
      break;
    case ':':
      kind = Tok::Colon;
      break;
    case '=':
      kind = Tok::Equal;
      break;
    case '+':
      kind = Tok::Plus;
      break;
    case '-':
      kind = Tok::Minus;
      break;
    case '*':
      kind = Tok::Star;
      break;
    case '/':
      kind = Tok::Slash;
      break;
    case ';':
      kind = Tok::Semicolon;
      break;
    default:
      reportBadCharacter(loc);
      return next(previous);
    }
    advance();
    return make(kind, loc, start);
  }

  /// string ::= '"' (character | '\\"' | '\\\\')* '"', on one line.
  Token lexString(SourceLoc loc, size_t start) {
    advance(); // the opening quote
    std::string text;
    while (pos_ < text_.size() && peek() != '"' && peek() != '\n') {
      char c = peek();
      advance();
      if (c == '\\') {
        char e = peek();
        if (e != '"' && e != '\\') {
          diags_.error(here(), "unknown escape '\\{}' in a string (only \\\" and \\\\ are)",
                       e == '\n' ? ' ' : e);
          continue;
        }
        advance();
        c = e;
      }
      text += c;
    }
    if (pos_ >= text_.size() || peek() != '"') {
      diags_.error(loc, "unclosed string: a string ends with '\"' on its line");
    } else {
      advance(); // the closing quote
    }
    Token t = make(Tok::String, loc, start);
    t.text = std::move(text);
    return t;
  }

  void reportBadCharacter(SourceLoc loc) {
    unsigned char c = static_cast<unsigned char>(peek());
    if (c >= 0x20 && c < 0x7f)
      diags_.error(loc, "unexpected character '{}'", static_cast<char>(c));
    else
      diags_.error(loc, "unexpected byte 0x{:02x}", c);
    advance();
    while (pos_ < text_.size() && (static_cast<unsigned char>(peek()) & 0xC0) == 0x80)
      advance();
  }

  /// Pairs brackets; marks openers that are never closed and reports them at
  /// the opener, and reports closers that close nothing.
  void matchBrackets(std::vector<Token> &tokens) {
    std::vector<size_t> open;
    auto closeUntil = [&](Tok opener) {
      // Pops to the nearest `opener`; everything above it is unclosed.
      while (!open.empty() && tokens[open.back()].kind != opener) {
        markUnclosed(tokens[open.back()]);
        open.pop_back();
      }
      if (!open.empty())
        open.pop_back();
    };
    auto hasOpen = [&](Tok opener) {
      for (size_t i : open)
        if (tokens[i].kind == opener)
          return true;
      return false;
    };
    for (size_t i = 0; i < tokens.size(); ++i) {
      Token &t = tokens[i];
      switch (t.kind) {
      case Tok::LParen:
      case Tok::LBracket:
      case Tok::LBrace:
        open.push_back(i);
        break;
      case Tok::RParen:
      case Tok::RBracket:
      case Tok::RBrace: {
        Tok opener = t.kind == Tok::RParen     ? Tok::LParen
                     : t.kind == Tok::RBracket ? Tok::LBracket
                                               : Tok::LBrace;
        if (hasOpen(opener))
          closeUntil(opener);
        else
          diags_.error(t.loc, "unmatched {}", tokenDescription(t.kind));
        break;
      }
      case Tok::Eof:
        while (!open.empty()) {
          markUnclosed(tokens[open.back()]);
          open.pop_back();
        }
        break;
      default:
        break;
      }
    }
  }

  void markUnclosed(Token &t) {
    t.unclosed = true;
    diags_.error(t.loc, "unclosed {}", tokenDescription(t.kind));
  }

  /// Keeps a newline only where no closed parenthesis or bracket is open.
  /// Unclosed ones do not count, so the statements after them still parse.
  static std::vector<Token> dropInnerNewlines(std::vector<Token> &raw) {
    std::vector<Token> out;
    int depth = 0;
    for (Token &t : raw) {
      bool opens = (t.kind == Tok::LParen || t.kind == Tok::LBracket) && !t.unclosed;
      bool closes = t.kind == Tok::RParen || t.kind == Tok::RBracket;
      if (t.kind == Tok::Newline && depth > 0)
        continue;
      if (opens)
        ++depth;
      if (closes && depth > 0)
        --depth;
      out.push_back(std::move(t));
    }
    return out;
  }

  const SourceFile &file_;
  std::string_view text_;
  Diagnostics &diags_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
  uint32_t col_ = 1;
};

} // namespace

std::vector<Token> tokenize(const SourceFile &file, Diagnostics &diags) {
  return Lexer(file, diags).run();
}

} // namespace nnc
