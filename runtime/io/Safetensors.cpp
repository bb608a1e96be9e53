/// safetensors reader and writer: a small, strict, bounded JSON parser for
/// exactly the header the format allows, and atomic writes.
#include "runtime/io/Safetensors.h"

#include "runtime/io/Json.h"
#include "runtime/io/Text.h"

#include "runtime/io/AtomicFile.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <set>

namespace nnc {

static_assert(std::endian::native == std::endian::little,
              "nnc's safetensors code copies little-endian data as is");

namespace {

/// The reference implementation refuses larger headers too.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxRank = 64;
constexpr uint64_t kMaxDim = uint64_t(1) << 40;
constexpr uint64_t kMaxInteger = uint64_t(1) << 62;
constexpr std::string_view kMetadataKey = "__metadata__";

// ---- the header ------------------------------------------------------------

/// One tensor entry of the header, as written.
struct Entry {
  std::string name;
  std::optional<std::string> dtype;
  std::optional<std::vector<uint64_t>> shape;
  std::optional<std::vector<uint64_t>> offsets;
};

/// Parses a safetensors header, a JSON object of a fixed shape:
///
///   header   ::= '{' (member (',' member)*)? '}'
///   member   ::= string ':' (metadata | tensor)   (metadata: "__metadata__")
///   metadata ::= '{' (string ':' string (',' string ':' string)*)? '}'
///   tensor   ::= '{' field (',' field)* '}'
///   field    ::= ("dtype" ':' string) | ("shape" | "data_offsets") ':' ints
///   ints     ::= '[' (integer (',' integer)*)? ']'
///
/// with JSON whitespace between tokens and JSON strings (escapes included).
/// The grammar nests three levels at most, so the parser needs no recursion
/// and no depth counter; it reads only inside `text`. On failure error() is
/// the reason, ready to follow `file: `.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : s_(text, "header") {}

  bool parse(std::vector<Entry> &entries, std::map<std::string, std::string> &metadata);
  const std::string &error() const { return error_.empty() ? s_.error() : error_; }

private:
  /// An error that is not about JSON syntax (stated as is).
  bool fail(std::string reason) {
    error_ = std::move(reason);
    return false;
  }
  bool parseMetadata(std::map<std::string, std::string> &metadata);
  bool parseTensor(Entry &entry);
  bool parseInts(std::vector<uint64_t> &out, std::string_view what, size_t maxCount);

  JsonScanner s_;
  std::string error_;
};

bool HeaderParser::parse(std::vector<Entry> &entries,
                         std::map<std::string, std::string> &metadata) {
  if (!s_.eat('{'))
    return s_.expected("'{'");
  std::set<std::string, std::less<>> names;
  bool sawMetadata = false;
  if (!s_.eat('}')) {
    for (;;) {
      std::string key;
      if (!s_.string(key, "a quoted tensor name"))
        return false;
      if (!s_.eat(':'))
        return s_.expected("':' after '" + printable(key) + "'");
      if (key == kMetadataKey) {
        if (sawMetadata)
          return s_.fail("duplicate key '__metadata__'");
        sawMetadata = true;
        if (!parseMetadata(metadata))
          return false;
      } else {
        if (!names.insert(key).second)
          return fail(fmt::format("duplicate tensor name '{}'", printable(key)));
        entries.push_back(Entry{std::move(key), {}, {}, {}});
        if (!parseTensor(entries.back()))
          return false;
      }
      if (s_.eat('}'))
        break;
      if (!s_.eat(','))
        return s_.expected("',' or '}'");
    }
  }
  if (!s_.atEnd())
    return s_.expected("only spaces after the header object");
  return true;
}

/// metadata ::= '{' (string ':' string (',' string ':' string)*)? '}'
bool HeaderParser::parseMetadata(std::map<std::string, std::string> &metadata) {
  if (!s_.eat('{'))
    return s_.expected("'{' (the __metadata__ object)");
  if (s_.eat('}'))
    return true;
  for (;;) {
    std::string key, value;
    if (!s_.string(key, "a quoted metadata key"))
      return false;
    if (!s_.eat(':'))
      return s_.expected("':' after metadata key '" + printable(key) + "'");
    if (!s_.string(value, "a string value for metadata key '" + printable(key) + "'"))
      return false;
    if (!metadata.emplace(key, std::move(value)).second)
      return s_.fail(fmt::format("duplicate metadata key '{}'", printable(key)));
    if (s_.eat('}'))
      return true;
    if (!s_.eat(','))
      return s_.expected("',' or '}' in __metadata__");
  }
}

/// tensor ::= '{' field (',' field)* '}'
bool HeaderParser::parseTensor(Entry &entry) {
  std::string who = "tensor '" + printable(entry.name) + "'";
  if (!s_.eat('{'))
    return s_.expected("'{' (the entry of " + who + ")");
  for (;;) {
    std::string key;
    if (!s_.string(key, "a quoted key in the entry of " + who))
      return false;
    if (!s_.eat(':'))
      return s_.expected("':' after '" + printable(key) + "'");
    auto duplicate = [&] { return s_.fail(fmt::format("{}: duplicate key '{}'", who, key)); };
    if (key == "dtype") {
      if (entry.dtype)
        return duplicate();
      if (!s_.string(entry.dtype.emplace(), "a quoted dtype for " + who))
        return false;
    } else if (key == "shape") {
      if (entry.shape)
        return duplicate();
      if (!parseInts(entry.shape.emplace(), "the shape of " + who, kMaxRank))
        return false;
    } else if (key == "data_offsets") {
      if (entry.offsets)
        return duplicate();
      if (!parseInts(entry.offsets.emplace(), "the data_offsets of " + who, 2))
        return false;
    } else {
      return s_.fail(fmt::format("{}: unexpected key '{}'", who, printable(key)));
    }
    if (s_.eat('}'))
      break;
    if (!s_.eat(','))
      return s_.expected("',' or '}' in the entry of " + who);
  }
  const char *missing = !entry.dtype     ? "dtype"
                        : !entry.shape   ? "shape"
                        : !entry.offsets ? "data_offsets"
                                         : nullptr;
  if (missing)
    return s_.fail(fmt::format("{} has no '{}'", who, missing));
  if (entry.offsets->size() != 2)
    return s_.fail(fmt::format("{}: data_offsets must be [begin, end]", who));
  return true;
}

/// ints ::= '[' (integer (',' integer)*)? ']'
bool HeaderParser::parseInts(std::vector<uint64_t> &out, std::string_view what, size_t maxCount) {
  if (!s_.eat('['))
    return s_.expected(fmt::format("'[' ({})", what));
  if (s_.eat(']'))
    return true;
  for (;;) {
    if (out.size() == maxCount)
      return s_.fail(fmt::format("{} has more than {} entries", what, maxCount));
    if (!s_.integer(out.emplace_back(), kMaxInteger))
      return false;
    if (s_.eat(']'))
      return true;
    if (!s_.eat(','))
      return s_.expected(fmt::format("',' or ']' in {}", what));
  }
}

// ---- checking the entries against the data ---------------------------------

std::string shapeText(const std::vector<uint64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// The dtype of an entry, or the error.
Result<DType> entryDType(const Entry &e, const std::string &name) {
  if (*e.dtype == "F32")
    return DType::F32;
  if (*e.dtype == "I32")
    return DType::I32;
  return Result<DType>::fail("{}: tensor '{}' has unsupported dtype '{}' (nnc "
                             "reads F32 and I32)",
                             name, printable(e.name), printable(*e.dtype));
}

/// Checks one entry's shape and offsets against `dataBytes` bytes of data;
/// returns the element count.
Result<uint64_t> checkEntry(const Entry &e, uint64_t dataBytes, const std::string &name) {
  using R = Result<uint64_t>;
  std::string who = "tensor '" + printable(e.name) + "'";
  uint64_t numel = 1;
  bool zero = std::find(e.shape->begin(), e.shape->end(), 0) != e.shape->end();
  for (uint64_t d : *e.shape) {
    if (d > kMaxDim || (!zero && numel > kMaxDim / d))
      return R::fail("{}: {}: shape {} has more than 2^40 elements", name, who,
                     shapeText(*e.shape));
    numel = zero ? 0 : numel * d;
  }
  uint64_t begin = (*e.offsets)[0], end = (*e.offsets)[1];
  if (end < begin)
    return R::fail("{}: {}: data_offsets [{}, {}] end before they begin", name, who, begin, end);
  if (end > dataBytes)
    return R::fail("{}: {}: data_offsets [{}, {}] are out of range (the data "
                   "is {} bytes)",
                   name, who, begin, end, dataBytes);
  if (end - begin != numel * 4)
    return R::fail("{}: {}: data_offsets [{}, {}] hold {} bytes, but {}{} "
                   "needs {}",
                   name, who, begin, end, end - begin, *e.dtype == "F32" ? "f32" : "i32",
                   shapeText(*e.shape), numel * 4);
  return numel;
}

/// Checks that the entries' byte ranges tile [0, dataBytes) exactly, as the
/// reference implementation demands.
Status checkTiling(const std::vector<Entry> &entries, uint64_t dataBytes, const std::string &name) {
  std::vector<const Entry *> byBegin;
  for (const Entry &e : entries)
    byBegin.push_back(&e);
  std::stable_sort(byBegin.begin(), byBegin.end(),
                   [](const Entry *a, const Entry *b) { return *a->offsets < *b->offsets; });
  uint64_t at = 0;
  const Entry *prev = nullptr;
  for (const Entry *e : byBegin) {
    uint64_t begin = (*e->offsets)[0];
    if (begin < at)
      return Status::fail("{}: tensors '{}' and '{}' overlap", name, printable(prev->name),
                          printable(e->name));
    if (begin > at)
      return Status::fail("{}: {} bytes of data before tensor '{}' belong to "
                          "no tensor",
                          name, begin - at, printable(e->name));
    at = (*e->offsets)[1];
    prev = e;
  }
  if (at != dataBytes)
    return Status::fail("{}: the last {} bytes of data belong to no tensor", name, dataBytes - at);
  return Ok{};
}

} // namespace

// ---- reading ---------------------------------------------------------------

Result<NamedTensors> parseSafetensors(std::string_view bytes, const std::string &name,
                                      std::map<std::string, std::string> *metadata) {
  using R = Result<NamedTensors>;
  if (bytes.empty())
    return R::fail("{}: not a safetensors file (empty file)", name);
  if (bytes.size() < 8)
    return R::fail("{}: truncated: {} bytes, too short for the 8-byte header "
                   "length",
                   name, bytes.size());
  uint64_t len = 0;
  for (size_t i = 8; i-- > 0;)
    len = (len << 8) | static_cast<unsigned char>(bytes[i]);
  if (len > kMaxHeaderBytes)
    return R::fail("{}: not a safetensors file (its first 8 bytes give a "
                   "header length of {} bytes; the limit is {})",
                   name, len, kMaxHeaderBytes);
  if (len > bytes.size() - 8)
    return R::fail("{}: truncated: header length is {} bytes but only {} "
                   "bytes follow",
                   name, len, bytes.size() - 8);
  std::string_view header = bytes.substr(8, static_cast<size_t>(len));
  if (header.empty() || header[0] != '{')
    return R::fail("{}: not a safetensors file (the header does not start "
                   "with '{{')",
                   name);
  if (auto at = invalidUtf8At(header))
    return R::fail("{}: malformed header: invalid UTF-8 at header byte {}", name, *at);

  std::vector<Entry> entries;
  std::map<std::string, std::string> meta;
  HeaderParser parser(header);
  if (!parser.parse(entries, meta))
    return R::fail("{}: {}", name, parser.error());

  std::string_view data = bytes.substr(8 + static_cast<size_t>(len));
  std::vector<DType> dtypes;
  for (const Entry &e : entries) {
    Result<DType> dtype = entryDType(e, name);
    if (!dtype)
      return dtype.takeDiags();
    dtypes.push_back(*dtype);
    Result<uint64_t> numel = checkEntry(e, data.size(), name);
    if (!numel)
      return numel.takeDiags();
  }
  if (Status tiled = checkTiling(entries, data.size(), name); !tiled)
    return tiled.takeDiags();

  NamedTensors out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry &e = entries[i];
    std::vector<int64_t> shape(e.shape->begin(), e.shape->end());
    Tensor t(dtypes[i], std::move(shape));
    if (t.bytes() > 0)
      std::memcpy(t.data(), data.data() + (*e.offsets)[0], static_cast<size_t>(t.bytes()));
    out.emplace_back(e.name, std::move(t));
  }
  if (metadata)
    *metadata = std::move(meta);
  return out;
}

Result<NamedTensors> readSafetensors(const std::string &path,
                                     std::map<std::string, std::string> *metadata) {
  Result<std::string> bytes = readWholeFile(path);
  if (!bytes)
    return bytes.takeDiags();
  return parseSafetensors(*bytes, path, metadata);
}

// ---- writing ---------------------------------------------------------------

Result<std::string> encodeSafetensors(const NamedTensors &tensors,
                                      const std::map<std::string, std::string> &metadata) {
  using R = Result<std::string>;
  auto checkText = [](std::string_view s) { return !invalidUtf8At(s); };
  std::string json = "{";
  if (!metadata.empty()) {
    json += jsonString(kMetadataKey) + ":{";
    bool first = true;
    for (const auto &[key, value] : metadata) {
      if (!checkText(key) || !checkText(value))
        return R::fail("metadata '{}': not valid UTF-8", printable(key));
      json += (first ? "" : ",") + jsonString(key) + ":" + jsonString(value);
      first = false;
    }
    json += "}";
  }
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const auto &[tensorName, t] : tensors) {
    if (tensorName == kMetadataKey)
      return R::fail("tensor name '__metadata__' is reserved");
    if (!checkText(tensorName))
      return R::fail("tensor name '{}' is not valid UTF-8", printable(tensorName));
    if (!names.insert(tensorName).second)
      return R::fail("duplicate tensor name '{}'", printable(tensorName));
    if (t.empty())
      return R::fail("tensor '{}' has no storage", printable(tensorName));
    std::string shape;
    for (size_t i = 0; i < t.rank(); ++i)
      shape += (i ? "," : "") + std::to_string(t.dim(i));
    uint64_t end = offset + static_cast<uint64_t>(t.bytes());
    json += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                        json.size() > 1 ? "," : "", jsonString(tensorName),
                        t.dtype() == DType::F32 ? "F32" : "I32", shape, offset, end);
    offset = end;
  }
  json += "}";
  // The reference implementation pads the header with spaces so that the
  // data starts at a multiple of 8 bytes.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + static_cast<size_t>(offset));
  for (size_t i = 0; i < 8; ++i)
    out += static_cast<char>((uint64_t(json.size()) >> (8 * i)) & 0xff);
  out += json;
  for (const auto &entry : tensors)
    out.append(static_cast<const char *>(entry.second.data()),
               static_cast<size_t>(entry.second.bytes()));
  return out;
}

Status writeSafetensors(const std::string &path, const NamedTensors &tensors,
                        const std::map<std::string, std::string> &metadata) {
  Result<std::string> bytes = encodeSafetensors(tensors, metadata);
  if (!bytes)
    return Status::fail("{}: cannot write: {}", path, bytes.diags().list()[0].message);
  return writeFileAtomically(path, *bytes);
}

} // namespace nnc
