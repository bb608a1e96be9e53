/// NumPy .npy reader and writer: a bounded header parser and atomic writes.
#include "runtime/io/Npy.h"

#include "runtime/io/AtomicFile.h"
#include "runtime/io/Text.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <optional>
#include <system_error>

namespace nnc {

static_assert(std::endian::native == std::endian::little,
              "nnc's .npy code copies little-endian data as is");

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
/// numpy itself refuses headers over 10000 bytes by default; allow more.
constexpr size_t kMaxHeaderBytes = size_t(1) << 20;
constexpr int64_t kMaxElements = int64_t(1) << 40;
constexpr size_t kMaxRank = 64;
constexpr const char *kDtypes = "nnc reads <f4 and <i4";

std::string errnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

/// `()`, `(3,)`, `(2, 3)`: a shape as Python prints a tuple.
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

uint64_t readLittleEndian(std::string_view bytes, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = width; i-- > 0;)
    v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// ---- the header: a Python dict literal ------------------------------------

struct HeaderFields {
  std::optional<std::string> descr;
  std::optional<bool> fortranOrder;
  std::optional<std::vector<int64_t>> shape;
};

/// Parses the dict literal of a .npy header, as numpy writes it:
///
///   header ::= '{' (entry (',' entry)* ','?)? '}'
///   entry  ::= string ':' value
///   value  ::= string | 'True' | 'False' | '(' (int (',' int)* ','?)? ')'
///
/// with whitespace anywhere between tokens, keys in any order, and 'descr' a
/// string, 'fortran_order' a boolean, 'shape' a tuple of non-negative
/// integers. Reads only inside `text`, without recursion: safe on any bytes.
/// On failure error() is the reason, ready to follow `file: `.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  bool parse(HeaderFields &out);
  const std::string &error() const { return error_; }

private:
  bool fail(std::string reason) {
    error_ = std::move(reason);
    return false;
  }
  bool malformed(std::string_view what) {
    return fail(fmt::format("malformed header: expected {} at header byte {}, "
                            "found {}",
                            what, pos_, found()));
  }
  std::string found() const;
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }
  void skipSpace();
  bool eat(char c);
  bool parseEntry(HeaderFields &out);
  bool parseString(std::string &out, std::string_view what);
  bool parseBool(bool &out);
  bool parseShape(std::vector<int64_t> &out);
  bool parseDim(int64_t &out);

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

std::string HeaderParser::found() const {
  if (atEnd())
    return "the end of the header";
  return "'" + printable(text_.substr(pos_, 1)) + "'";
}

void HeaderParser::skipSpace() {
  while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
    ++pos_;
}

bool HeaderParser::eat(char c) {
  skipSpace();
  if (atEnd() || text_[pos_] != c)
    return false;
  ++pos_;
  return true;
}

bool HeaderParser::parse(HeaderFields &out) {
  if (!eat('{'))
    return malformed("'{'");
  if (!eat('}')) {
    for (;;) {
      if (!parseEntry(out))
        return false;
      if (eat('}'))
        break;
      if (!eat(','))
        return malformed("',' or '}'");
      if (eat('}'))
        break;
    }
  }
  skipSpace();
  if (!atEnd())
    return malformed("only spaces after the dict");
  const char *missing = !out.descr          ? "descr"
                        : !out.fortranOrder ? "fortran_order"
                        : !out.shape        ? "shape"
                                            : nullptr;
  if (missing)
    return fail(fmt::format("malformed header: missing key '{}'", missing));
  return true;
}

bool HeaderParser::parseEntry(HeaderFields &out) {
  std::string key;
  if (!parseString(key, "a quoted key"))
    return false;
  if (!eat(':'))
    return malformed("':' after key '" + printable(key) + "'");
  auto duplicate = [&] { return fail(fmt::format("malformed header: duplicate key '{}'", key)); };
  if (key == "descr") {
    if (out.descr)
      return duplicate();
    skipSpace();
    if (peek() != '\'' && peek() != '"')
      return fail(fmt::format("unsupported dtype: structured arrays are not "
                              "supported ({})",
                              kDtypes));
    return parseString(out.descr.emplace(), "a quoted dtype");
  }
  if (key == "fortran_order") {
    if (out.fortranOrder)
      return duplicate();
    return parseBool(out.fortranOrder.emplace());
  }
  if (key == "shape") {
    if (out.shape)
      return duplicate();
    return parseShape(out.shape.emplace());
  }
  return fail(fmt::format("malformed header: unexpected key '{}'", printable(key)));
}

/// string ::= '\'' chars '\'' | '"' chars '"' (no escapes, on one line)
bool HeaderParser::parseString(std::string &out, std::string_view what) {
  skipSpace();
  char quote = peek();
  if (quote != '\'' && quote != '"')
    return malformed(what);
  size_t start = ++pos_;
  while (!atEnd() && text_[pos_] != quote) {
    if (text_[pos_] == '\n')
      break;
    if (text_[pos_] == '\\')
      return fail(fmt::format("malformed header: escape sequences are not "
                              "supported (at header byte {})",
                              pos_));
    ++pos_;
  }
  if (atEnd() || text_[pos_] != quote)
    return fail("malformed header: unterminated string");
  out = std::string(text_.substr(start, pos_ - start));
  ++pos_;
  return true;
}

bool HeaderParser::parseBool(bool &out) {
  skipSpace();
  size_t start = pos_;
  while (!atEnd() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_'))
    ++pos_;
  std::string_view word = text_.substr(start, pos_ - start);
  if (word != "True" && word != "False") {
    pos_ = start;
    return malformed("True or False for 'fortran_order'");
  }
  out = word == "True";
  return true;
}

/// shape ::= '(' (dim (',' dim)* ','?)? ')'
bool HeaderParser::parseShape(std::vector<int64_t> &out) {
  if (!eat('('))
    return malformed("a tuple '(...)' for 'shape'");
  if (eat(')'))
    return true;
  for (;;) {
    if (out.size() == kMaxRank)
      return fail(fmt::format("malformed header: shape has more than {} "
                              "dimensions",
                              kMaxRank));
    if (!parseDim(out.emplace_back()))
      return false;
    if (eat(')'))
      return true;
    if (!eat(','))
      return malformed("',' or ')' in the shape");
    if (eat(')'))
      return true;
  }
}

/// dim ::= '-'? [0-9]+ 'L'?   (Python 2 wrote `3L`); must be in [0, 2^40]
bool HeaderParser::parseDim(int64_t &out) {
  skipSpace();
  size_t start = pos_;
  bool negative = peek() == '-';
  if (negative)
    ++pos_;
  if (!std::isdigit(static_cast<unsigned char>(peek()))) {
    pos_ = start;
    return malformed("an integer dimension");
  }
  out = 0;
  while (std::isdigit(static_cast<unsigned char>(peek()))) {
    if (out <= kMaxElements) // stop growing once past the limit
      out = out * 10 + (peek() - '0');
    ++pos_;
  }
  std::string_view digits = text_.substr(start, pos_ - start);
  if (peek() == 'L')
    ++pos_;
  if (negative && out != 0)
    return fail(fmt::format("negative dimension {} in the shape", printable(digits)));
  if (out > kMaxElements)
    return fail(fmt::format("dimension {} is too large (at most 2^40)", printable(digits)));
  return true;
}

// ---- the file layout -------------------------------------------------------

/// What the preamble and header say: the tensor's type and where data starts.
struct Layout {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel = 1;
  size_t dataOffset = 0;
};

/// The byte where the header ends, read from the preamble of `bytes`, or 0
/// when the preamble is incomplete, wrong, or announces an oversized header.
size_t headerEnd(std::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic)
    return 0;
  size_t width = bytes[6] == 1 ? 2 : 4;
  if (bytes.size() < 8 + width)
    return 0;
  uint64_t len = readLittleEndian(bytes, 8, width);
  return len > kMaxHeaderBytes ? 0 : 8 + width + static_cast<size_t>(len);
}

Result<DType> parseDescr(const std::string &descr, const std::string &name) {
  if (descr == "<f4")
    return DType::F32;
  if (descr == "<i4")
    return DType::I32;
  if (descr == ">f4" || descr == ">i4")
    return Result<DType>::fail("{}: big-endian dtype '{}' is not supported ({})", name, descr,
                               kDtypes);
  return Result<DType>::fail("{}: unsupported dtype '{}' ({})", name, printable(descr), kDtypes);
}

Result<int64_t> elementCount(const std::vector<int64_t> &shape, const std::string &name) {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end())
    return int64_t(0);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (n > kMaxElements / d)
      return Result<int64_t>::fail("{}: too many elements: shape {} has more "
                                   "than 2^40",
                                   name, shapeText(shape));
    n *= d;
  }
  return n;
}

/// Checks the preamble (magic, version, header length) and the header.
Result<size_t> parsePreamble(std::string_view bytes, const std::string &name) {
  using R = Result<size_t>;
  if (bytes.empty())
    return R::fail("{}: not a .npy file (empty file)", name);
  size_t m = std::min(bytes.size(), kMagic.size());
  if (bytes.substr(0, m) != kMagic.substr(0, m))
    return R::fail("{}: not a .npy file (bad magic)", name);
  if (bytes.size() < 8)
    return R::fail("{}: truncated: the file ends inside the .npy preamble", name);
  int major = static_cast<unsigned char>(bytes[6]);
  int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    return R::fail("{}: unsupported .npy format version {}.{} (nnc reads 1.0, "
                   "2.0 and 3.0)",
                   name, major, minor);
  size_t width = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + width)
    return R::fail("{}: truncated: the file ends inside the .npy preamble", name);
  uint64_t len = readLittleEndian(bytes, 8, width);
  if (len > kMaxHeaderBytes)
    return R::fail("{}: malformed header: header length {} exceeds the limit "
                   "of {} bytes",
                   name, len, kMaxHeaderBytes);
  size_t start = 8 + width;
  if (len > bytes.size() - start)
    return R::fail("{}: truncated: header length is {} bytes but only {} bytes "
                   "follow",
                   name, len, bytes.size() - start);
  return start + static_cast<size_t>(len);
}

Result<Layout> parseLayout(std::string_view bytes, const std::string &name) {
  Result<size_t> end = parsePreamble(bytes, name);
  if (!end)
    return end.takeDiags();
  size_t start = bytes[6] == 1 ? 10 : 12;
  HeaderParser parser(bytes.substr(start, *end - start));
  HeaderFields fields;
  if (!parser.parse(fields))
    return Result<Layout>::fail("{}: {}", name, parser.error());
  Result<DType> dtype = parseDescr(*fields.descr, name);
  if (!dtype)
    return dtype.takeDiags();
  if (*fields.fortranOrder)
    return Result<Layout>::fail("{}: Fortran order is not supported", name);
  Result<int64_t> numel = elementCount(*fields.shape, name);
  if (!numel)
    return numel.takeDiags();
  return Layout{*dtype, std::move(*fields.shape), *numel, *end};
}

/// The error for data of the wrong size: `follow` bytes follow the header
/// (nullopt: more than the header says, in a stream of unknown length).
Result<Tensor> dataSizeError(const std::string &name, const Layout &layout,
                             std::optional<uint64_t> follow) {
  uint64_t want = static_cast<uint64_t>(layout.numel) * 4;
  bool truncated = follow && *follow < want;
  return Result<Tensor>::fail("{}: {}: header says {} elements ({} bytes) but {} bytes follow",
                              name, truncated ? "truncated" : "size mismatch", layout.numel, want,
                              follow ? std::to_string(*follow) : std::string("more"));
}

// ---- files -------------------------------------------------------------------

/// Closes a file descriptor when it goes out of scope.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

/// Appends up to `n` bytes read from `fd` to `out`, stopping early at the end
/// of the file. Returns 0 or an errno value.
int readUpTo(int fd, std::string &out, uint64_t n) {
  constexpr uint64_t kChunk = uint64_t(1) << 20;
  while (n > 0) {
    size_t old = out.size();
    size_t chunk = static_cast<size_t>(std::min(n, kChunk));
    out.resize(old + chunk);
    ssize_t got = ::read(fd, out.data() + old, chunk);
    out.resize(old + static_cast<size_t>(std::max<ssize_t>(got, 0)));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return errno;
    if (got == 0)
      return 0;
    n -= static_cast<uint64_t>(got);
  }
  return 0;
}

/// Reads the preamble and the header it announces into `bytes`, no further.
/// Returns 0 or an errno value.
int readHeaderBytes(int fd, std::string &bytes) {
  int err = readUpTo(fd, bytes, 12);
  size_t end = headerEnd(bytes);
  if (err == 0 && end > bytes.size())
    err = readUpTo(fd, bytes, end - bytes.size());
  return err;
}

/// Reads the data that `layout` announces after the header `bytes`, plus one
/// byte to notice trailing data: never more. `fileSize` is known for regular
/// files, which are checked before reading.
Result<Tensor> readData(int fd, std::optional<uint64_t> fileSize, const Layout &layout,
                        std::string bytes, const std::string &path) {
  uint64_t total = layout.dataOffset + static_cast<uint64_t>(layout.numel) * 4;
  if (fileSize && *fileSize != total && *fileSize >= layout.dataOffset)
    return dataSizeError(path, layout, *fileSize - layout.dataOffset);
  if (fileSize)
    bytes.reserve(static_cast<size_t>(total));
  uint64_t rest = total + 1 > bytes.size() ? total + 1 - bytes.size() : 0;
  if (int err = readUpTo(fd, bytes, rest))
    return Result<Tensor>::fail("{}: cannot read: {}", path, errnoText(err));
  if (bytes.size() > total) // a stream: we stopped one byte past the data
    return dataSizeError(path, layout, std::nullopt);
  return parseNpy(bytes, path);
}

} // namespace

Result<Tensor> parseNpy(std::string_view bytes, const std::string &nameForErrors) {
  Result<Layout> layout = parseLayout(bytes, nameForErrors);
  if (!layout)
    return layout.takeDiags();
  uint64_t follow = bytes.size() - layout->dataOffset;
  uint64_t want = static_cast<uint64_t>(layout->numel) * 4;
  if (follow != want)
    return dataSizeError(nameForErrors, *layout, follow);
  Tensor t(layout->dtype, std::move(layout->shape));
  if (want > 0)
    std::memcpy(t.data(), bytes.data() + layout->dataOffset, want);
  return t;
}

Result<Tensor> readNpy(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Result<Tensor>::fail("{}: cannot open: {}", path, errnoText(errno));
  FdCloser closer{fd};
  struct stat st = {};
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (!regular && S_ISDIR(st.st_mode))
    return Result<Tensor>::fail("{}: cannot open: {}", path, errnoText(EISDIR));
  std::string bytes;
  if (int err = readHeaderBytes(fd, bytes))
    return Result<Tensor>::fail("{}: cannot read: {}", path, errnoText(err));
  Result<Layout> layout = parseLayout(bytes, path);
  if (!layout)
    return layout.takeDiags();
  std::optional<uint64_t> size;
  if (regular)
    size = static_cast<uint64_t>(st.st_size);
  return readData(fd, size, *layout, std::move(bytes), path);
}

std::string encodeNpy(const Tensor &t) {
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 t.dtype() == DType::F32 ? "<f4" : "<i4", shapeText(t.shape()));
  // Pad with spaces and a newline so that the data starts at a multiple of
  // 64 bytes, as numpy does; a header too long for 1.0 needs format 2.0.
  size_t preamble = dict.size() + 64 > 65535 ? 12 : 10;
  size_t total = preamble + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += static_cast<char>(preamble == 10 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < preamble - 8; ++i)
    out += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  out += dict;
  if (t.numel() > 0)
    out.append(static_cast<const char *>(t.data()), static_cast<size_t>(t.bytes()));
  return out;
}

Status writeNpy(const std::string &path, const Tensor &t) {
  if (t.empty())
    return Status::fail("{}: cannot write: the tensor has no storage", path);
  return writeFileAtomically(path, encodeNpy(t));
}

} // namespace nnc
