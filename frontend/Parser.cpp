/// The recursive-descent parser: tokens -> ModelSyntax (IR.md section 1).
/// Each parse function carries its grammar rule. Errors are recovered at
/// statement ends, so one run reports every broken statement.
#include "frontend/Parser.h"

#include "runtime/io/Text.h"

#include "ir/Limits.h"

#include "frontend/Lexer.h"
#include "frontend/Syntax.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace nnc {

namespace {

/// Thrown to abandon the current statement after its error was reported.
struct StatementError {};

class Parser {
public:
  Parser(std::vector<Token> tokens, Diagnostics &diags)
      : tokens_(std::move(tokens)), diags_(diags) {}

  /// model ::= 'model' NAME '{' statement* '}'
  std::optional<ModelSyntax> parseModel() {
    ModelSyntax model;
    skipNewlines();
    try {
      if (!atIdent("model"))
        fail(cur().loc, "expected 'model NAME {{' at the start of the file, got {}",
             describe(cur()));
      model.loc = cur().loc;
      advance();
      model.name = expectName("a model name");
      skipNewlines();
      expect(Tok::LBrace, "'{' after the model name");
    } catch (StatementError &) {
      return std::nullopt;
    }
    while (true) {
      skipTerminators();
      if (at(Tok::RBrace) || at(Tok::Eof))
        break;
      parseStatementRecovering(model);
    }
    if (at(Tok::RBrace)) {
      advance();
      skipNewlines();
      if (!at(Tok::Eof))
        report(cur().loc, "a file holds one model; unexpected {} after its '}}'", describe(cur()));
    }
    return model;
  }

private:
  // ---- token access ---------------------------------------------------------
  const Token &cur() const { return tokens_[pos_]; }
  const Token &ahead(size_t n) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }
  bool at(Tok k) const { return cur().kind == k; }
  bool atIdent(std::string_view text) const { return at(Tok::Ident) && cur().text == text; }
  void advance() {
    if (!at(Tok::Eof))
      ++pos_;
  }
  bool accept(Tok k) {
    if (!at(k))
      return false;
    advance();
    return true;
  }
  void skipNewlines() {
    while (at(Tok::Newline))
      advance();
  }
  void skipTerminators() {
    while (at(Tok::Newline) || at(Tok::Semicolon))
      advance();
  }

  static std::string describe(const Token &t) {
    if (t.kind == Tok::Ident)
      return "'" + t.text + "'";
    if (t.kind == Tok::Number)
      return "the number " + t.text;
    return tokenDescription(t.kind);
  }

  // ---- errors -----------------------------------------------------------------
  /// Reports an error unless the statement holds an unclosed bracket (the
  /// lexer already reported that, at the bracket, and it explains this).
  template <typename... Args>
  void report(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    for (size_t i = stmtStart_; i <= pos_ && i < tokens_.size(); ++i)
      if (tokens_[i].unclosed)
        return;
    diags_.error(loc, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  [[noreturn]] void fail(SourceLoc loc, fmt::format_string<Args...> f, Args &&...args) {
    report(loc, f, std::forward<Args>(args)...);
    throw StatementError{};
  }
  void expect(Tok k, const char *what) {
    if (!accept(k))
      fail(cur().loc, "expected {}, got {}", what, describe(cur()));
  }
  std::string expectName(const char *what) {
    if (!at(Tok::Ident))
      fail(cur().loc, "expected {}, got {}", what, describe(cur()));
    if (isKeyword(cur().text))
      fail(cur().loc, "'{}' is a reserved keyword and cannot be a name", cur().text);
    std::string name = cur().text;
    advance();
    return name;
  }

  // ---- statements -------------------------------------------------------------
  void parseStatementRecovering(ModelSyntax &model) {
    stmtStart_ = pos_;
    nesting_ = 0;
    try {
      StmtSyntax s = parseStatement();
      if (!at(Tok::Newline) && !at(Tok::Semicolon) && !at(Tok::RBrace) && !at(Tok::Eof))
        fail(cur().loc, "expected end of statement, got {}", describe(cur()));
      model.stmts.push_back(std::move(s));
    } catch (StatementError &) {
      // Skip to the end of the broken statement.
      while (!at(Tok::Newline) && !at(Tok::Semicolon) && !at(Tok::Eof) &&
             !(at(Tok::RBrace) && !cur().unclosed && isModelBrace()))
        advance();
    }
  }

  /// A `}` that closes the model (and not some stray brace inside it).
  bool isModelBrace() const {
    for (size_t i = pos_ + 1; i < tokens_.size(); ++i)
      if (tokens_[i].kind != Tok::Newline)
        return tokens_[i].kind == Tok::Eof;
    return true;
  }

  /// statement ::= 'dim' NAME | 'input' NAME ':' type
  ///             | ('param' | 'state') NAME ':' type '=' init
  ///             | 'const' NAME ':' type '=' literal
  ///             | 'output' NAME (',' NAME)* | 'minimize' NAME 'with' call
  ///             | NAME (':' type)? '=' expr | NAME '<-' expr
  StmtSyntax parseStatement() {
    StmtSyntax s;
    s.loc = cur().loc;
    if (!at(Tok::Ident))
      fail(cur().loc, "expected a statement, got {}", describe(cur()));
    std::string word = cur().text;
    using K = StmtSyntax::Kind;
    if (word == "dim")
      return parseDeclaration(K::Dim);
    if (word == "input")
      return parseDeclaration(K::Input);
    if (word == "param")
      return parseDeclaration(K::Param);
    if (word == "state")
      return parseDeclaration(K::State);
    if (word == "const")
      return parseDeclaration(K::Const);
    if (word == "output")
      return parseOutput();
    if (word == "minimize")
      return parseMinimize();
    if (isKeyword(word))
      fail(cur().loc, "'{}' cannot start a statement here", word);
    s.name = word;
    s.nameLoc = cur().loc;
    advance();
    if (accept(Tok::Arrow)) {
      s.kind = K::Update;
      s.expr = parseExpr();
      return s;
    }
    s.kind = K::Value;
    if (accept(Tok::Colon))
      s.type = parseType();
    expect(Tok::Equal, s.type ? "'=' after the type" : "'=', '<-' or ':' after a name");
    s.expr = parseExpr();
    return s;
  }

  StmtSyntax parseDeclaration(StmtSyntax::Kind kind) {
    StmtSyntax s;
    s.kind = kind;
    s.loc = cur().loc;
    std::string keyword = cur().text;
    advance();
    s.nameLoc = cur().loc;
    s.name = expectName(fmt::format("a name after '{}'", keyword).c_str());
    if (kind == StmtSyntax::Kind::Dim)
      return s;
    expect(Tok::Colon, "':' and a type");
    s.type = parseType();
    if (kind == StmtSyntax::Kind::Input)
      return s;
    const char *what = "'=' and an initializer or a literal";
    expect(Tok::Equal, what);
    if (at(Tok::LBracket)) {
      s.expr = parseLiteral();
    } else if (at(Tok::Number)) {
      ExprSyntax e;
      e.kind = ExprSyntax::Kind::Number;
      e.loc = cur().loc;
      e.number = cur().number;
      advance();
      s.expr = e;
    } else if (at(Tok::Ident)) {
      s.expr = parsePrimary();
      if (s.expr->kind != ExprSyntax::Kind::Call)
        fail(s.expr->loc, "expected an initializer such as zeros() or a literal");
    } else {
      fail(cur().loc, "expected {}, got {}", what + 8, describe(cur()));
    }
    return s;
  }

  StmtSyntax parseOutput() {
    StmtSyntax s;
    s.kind = StmtSyntax::Kind::Output;
    s.loc = cur().loc;
    advance();
    do {
      SourceLoc loc = cur().loc;
      s.outputs.emplace_back(expectName("a value name after 'output'"), loc);
    } while (accept(Tok::Comma));
    return s;
  }

  StmtSyntax parseMinimize() {
    StmtSyntax s;
    s.kind = StmtSyntax::Kind::Minimize;
    s.loc = cur().loc;
    advance();
    s.nameLoc = cur().loc;
    s.name = expectName("the name of the loss after 'minimize'");
    if (!atIdent("with"))
      fail(cur().loc, "expected 'with' and an optimizer, got {}", describe(cur()));
    advance();
    if (!at(Tok::Ident) || ahead(1).kind != Tok::LParen)
      fail(cur().loc, "expected an optimizer such as sgd(lr=0.1), got {}", describe(cur()));
    s.expr = parsePrimary();
    return s;
  }

  /// type ::= ('f32' | 'i32') '[' (dim (',' dim)*)? ']'
  TypeSyntax parseType() {
    TypeSyntax t;
    t.loc = cur().loc;
    if (atIdent("f32"))
      t.dtype = DType::F32;
    else if (atIdent("i32"))
      t.dtype = DType::I32;
    else
      fail(cur().loc, "expected a type (f32[...] or i32[...]), got {}", describe(cur()));
    advance();
    expect(Tok::LBracket, "'[' after the dtype");
    if (accept(Tok::RBracket))
      return t;
    do {
      t.dims.push_back(parseDim());
    } while (accept(Tok::Comma));
    expect(Tok::RBracket, "',' or ']' in the type");
    return t;
  }

  /// dim ::= INTEGER | NAME
  DimSyntax parseDim() {
    DimSyntax d;
    d.loc = cur().loc;
    if (at(Tok::Ident)) {
      d.name = cur().text;
      advance();
      return d;
    }
    if (!at(Tok::Number))
      fail(cur().loc, "expected a dimension (an integer or a dim name), got {}", describe(cur()));
    double v = cur().number;
    // Range first: casting a double outside int64's range is undefined.
    if (!(v >= 0 && v < 2147483648.0) || v != static_cast<double>(static_cast<int64_t>(v)))
      fail(cur().loc, "a dimension must be an integer in [0, 2^31), got {}", cur().text);
    d.size = static_cast<int64_t>(v);
    advance();
    return d;
  }

  // ---- expressions --------------------------------------------------------------
  static ExprSyntax call(std::string op, SourceLoc loc, std::vector<ExprSyntax> args) {
    ExprSyntax e;
    e.kind = ExprSyntax::Kind::Call;
    e.name = std::move(op);
    e.loc = loc;
    e.args = std::move(args);
    return e;
  }

  /// Deeper nesting is an error, not a stack overflow.
  static constexpr int kMaxNesting = 256;

  /// Counts one level of expression nesting for the lifetime of a parse call.
  struct NestingGuard {
    NestingGuard(Parser &p) : p(p) {
      if (++p.nesting_ > kMaxNesting)
        p.fail(p.cur().loc, "expression nests too deeply (more than {} levels)", kMaxNesting);
    }
    ~NestingGuard() { --p.nesting_; }
    Parser &p;
  };

  /// expr ::= term (('+' | '-') term)*
  ExprSyntax parseExpr() {
    NestingGuard guard(*this);
    ExprSyntax lhs = parseTerm();
    while (at(Tok::Plus) || at(Tok::Minus)) {
      const char *op = at(Tok::Plus) ? "add" : "sub";
      SourceLoc loc = cur().loc;
      advance();
      ExprSyntax rhs = parseTerm();
      lhs = call(op, loc, {std::move(lhs), std::move(rhs)});
    }
    return lhs;
  }

  /// term ::= unary (('*' | '/') unary)*
  ExprSyntax parseTerm() {
    ExprSyntax lhs = parseUnary();
    while (at(Tok::Star) || at(Tok::Slash)) {
      const char *op = at(Tok::Star) ? "mul" : "div";
      SourceLoc loc = cur().loc;
      advance();
      ExprSyntax rhs = parseUnary();
      lhs = call(op, loc, {std::move(lhs), std::move(rhs)});
    }
    return lhs;
  }

  /// unary ::= '-' unary | primary
  ExprSyntax parseUnary() {
    NestingGuard guard(*this);
    if (at(Tok::Minus)) {
      SourceLoc loc = cur().loc;
      advance();
      return call("neg", loc, {parseUnary()});
    }
    return parsePrimary();
  }

  /// primary ::= NUMBER | NAME | NAME '(' args ')' | '(' expr ')'
  ExprSyntax parsePrimary() {
    ExprSyntax e;
    e.loc = cur().loc;
    if (at(Tok::Number)) {
      e.kind = ExprSyntax::Kind::Number;
      e.number = cur().number;
      advance();
      return e;
    }
    if (accept(Tok::LParen)) {
      e = parseExpr();
      expect(Tok::RParen, "')'");
      return e;
    }
    if (at(Tok::String)) { // an initializer's file name; Sema says where it may be
      e.kind = ExprSyntax::Kind::String;
      e.name = cur().text;
      advance();
      return e;
    }
    if (at(Tok::LBracket))
      fail(cur().loc, "a list literal may only initialize a const, param or state");
    if (!at(Tok::Ident))
      fail(cur().loc, "expected an operand, got {}", describe(cur()));
    if (isKeyword(cur().text))
      fail(cur().loc, "'{}' is a reserved keyword, not a value", cur().text);
    e.name = cur().text;
    advance();
    if (!accept(Tok::LParen)) {
      e.kind = ExprSyntax::Kind::Name;
      return e;
    }
    e.kind = ExprSyntax::Kind::Call;
    if (accept(Tok::RParen))
      return e;
    do {
      parseArgument(e);
    } while (accept(Tok::Comma));
    expect(Tok::RParen, "',' or ')' in the argument list");
    return e;
  }

  /// argument ::= NAME '=' attribute | expr
  void parseArgument(ExprSyntax &callExpr) {
    if (at(Tok::Ident) && ahead(1).kind == Tok::Equal) {
      GivenAttr a;
      a.key = cur().text;
      a.loc = cur().loc;
      advance();
      advance();
      a.value = parseAttrValue();
      callExpr.attrs.push_back(std::move(a));
      return;
    }
    if (!callExpr.attrs.empty())
      fail(cur().loc, "an operand cannot follow a key=value attribute");
    callExpr.args.push_back(parseExpr());
  }

  /// attribute ::= NUMBER | STRING | 'true' | 'false' | NAME | '[' (attribute (',' attribute)*)?
  /// ']'
  AttrValue parseAttrValue() {
    NestingGuard guard(*this);
    if (at(Tok::String)) {
      std::string text = cur().text;
      advance();
      return AttrValue::text(std::move(text));
    }
    if (at(Tok::Number)) {
      double v = cur().number;
      advance();
      return AttrValue::num(v);
    }
    if (at(Tok::Ident)) {
      std::string name = cur().text;
      advance();
      if (name == "true" || name == "false")
        return AttrValue::flag(name == "true");
      return AttrValue::name(std::move(name));
    }
    if (!accept(Tok::LBracket))
      fail(cur().loc, "expected an attribute value, got {}", describe(cur()));
    std::vector<AttrValue> items;
    if (!accept(Tok::RBracket)) {
      do {
        items.push_back(parseAttrValue());
      } while (accept(Tok::Comma));
      expect(Tok::RBracket, "',' or ']' in the list");
    }
    return AttrValue::values(std::move(items));
  }

  /// literal ::= NUMBER | '[' (literal (',' literal)*)? ']', every list of a
  /// level having the same shape.
  ExprSyntax parseLiteral() {
    ExprSyntax e;
    e.kind = ExprSyntax::Kind::Literal;
    e.loc = cur().loc;
    leafDepth_ = -1;
    parseLiteralLevel(e.literal, e.literalShape, 0);
    return e;
  }

  void parseLiteralLevel(std::vector<double> &out, std::vector<int64_t> &shape, size_t depth) {
    if (depth > 64)
      fail(cur().loc, "literal nests too deeply");
    if (at(Tok::Number)) {
      if (leafDepth_ < 0)
        leafDepth_ = static_cast<int>(depth);
      if (leafDepth_ != static_cast<int>(depth) || shape.size() > depth)
        fail(cur().loc, "ragged literal: expected a list here");
      out.push_back(cur().number);
      advance();
      return;
    }
    SourceLoc open = cur().loc;
    if (leafDepth_ >= 0 && static_cast<int>(depth) >= leafDepth_)
      fail(open, "ragged literal: expected a number here");
    expect(Tok::LBracket, "a number or '['");
    bool first = depth >= shape.size();
    if (first)
      shape.push_back(0);
    int64_t count = 0;
    if (!at(Tok::RBracket)) {
      do {
        parseLiteralLevel(out, shape, depth + 1);
        ++count;
      } while (accept(Tok::Comma));
    }
    expect(Tok::RBracket, "',' or ']' in the literal");
    if (first)
      shape[depth] = count;
    else if (shape[depth] != count)
      fail(open, "ragged literal: this list has {} items, others at its level have {}", count,
           shape[depth]);
  }

  std::vector<Token> tokens_;
  Diagnostics &diags_;
  size_t pos_ = 0;
  size_t stmtStart_ = 0;
  int leafDepth_ = -1; ///< nesting depth of a literal's numbers, once seen
  int nesting_ = 0;    ///< current expression nesting
};

} // namespace

std::optional<ModelSyntax> parseSyntax(const SourceFile &file, Diagnostics &diags) {
  std::vector<Token> tokens = tokenize(file, diags);
  return Parser(std::move(tokens), diags).parseModel();
}

namespace {

/// At most this many errors are reported for one model: a binary file or a
/// line of ten thousand '(' would otherwise give one error per byte.
constexpr size_t kMaxReportedErrors = 50;

/// Sorts `diags` and keeps the first kMaxReportedErrors errors (and the
/// warnings among them), then one error that says how many there were.
Diagnostics capErrors(Diagnostics diags) {
  diags.sortBySource();
  size_t total = diags.errorCount();
  if (total <= kMaxReportedErrors)
    return diags;
  std::vector<Diagnostic> all = diags.take(), kept;
  size_t errors = 0;
  for (Diagnostic &d : all) {
    if (d.severity == Severity::Error && errors == kMaxReportedErrors) {
      Diagnostics capped;
      capped.append(std::move(kept));
      capped.error(d.loc, "too many errors ({} in all); stopping after the first {}", total,
                   kMaxReportedErrors);
      return capped;
    }
    errors += d.severity == Severity::Error;
    kept.push_back(std::move(d));
  }
  diags.append(std::move(kept));
  return diags;
}

} // namespace

Result<Graph> parseModel(std::string_view text, const std::string &fileName) {
  const SourceFile *file = SourceFile::add(fileName, std::string(text));
  Diagnostics diags;
  std::optional<ModelSyntax> syntax = parseSyntax(*file, diags);
  if (!syntax)
    return Result<Graph>(capErrors(std::move(diags)));
  Result<Graph> g = buildGraph(*syntax, std::move(diags));
  if (!g)
    return Result<Graph>(capErrors(g.takeDiags()));
  return g;
}

namespace {

/// Why `bytes` are not the UTF-8 text of a model (a NUL byte or a malformed
/// UTF-8 sequence, with its offset), or nullopt when they are.
std::optional<std::string> notText(std::string_view bytes) {
  if (size_t nul = bytes.find('\0'); nul != std::string_view::npos)
    return fmt::format("a NUL byte at offset {}", nul);
  if (std::optional<size_t> at = invalidUtf8At(bytes))
    return fmt::format("byte 0x{:02x} at offset {} is not UTF-8",
                       static_cast<unsigned char>(bytes[*at]), *at);
  return std::nullopt;
}

} // namespace

Result<Graph> loadModelFile(const std::string &path) {
  std::string text;
  std::string name = path;
  // Reads at most the limit plus one byte, so that a huge file or an endless
  // stream is an error, not an exhausted memory.
  auto readBounded = [&](std::istream &in) {
    auto limit = static_cast<size_t>(maxModelFileBytes());
    char chunk[65536];
    while (text.size() <= limit && in.read(chunk, sizeof chunk).gcount() > 0)
      text.append(chunk, static_cast<size_t>(in.gcount()));
    return text.size() <= limit;
  };
  if (path == "-") {
    name = "<stdin>";
    if (!readBounded(std::cin))
      return Result<Graph>::fail("{}: too large: more than {} bytes of model text (set "
                                 "NNC_MAX_MODEL_BYTES to change the limit)",
                                 name, maxModelFileBytes());
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return Result<Graph>::fail("{}: is a directory, not a model file", path);
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return Result<Graph>::fail("{}: cannot open: {}", path, std::strerror(errno));
    bool fits = readBounded(in);
    if (in.bad())
      return Result<Graph>::fail("{}: cannot read", path);
    if (!fits)
      return Result<Graph>::fail("{}: too large: more than {} bytes of model text (set "
                                 "NNC_MAX_MODEL_BYTES to change the limit)",
                                 path, maxModelFileBytes());
  }
  if (std::optional<std::string> why = notText(text))
    return Result<Graph>::fail("{}: not a text file: {} (a model file is UTF-8 text, IR.md section "
                               "1)",
                               name, *why);
  return parseModel(text, name);
}

} // namespace nnc
