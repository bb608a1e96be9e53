/// Tests of the safetensors reader and writer: round trips, the exact byte
/// layout, every class of malformed file, mutations, and interchange with
/// Python (the `safetensors` package when installed, else json + numpy
/// reading the format by its specification).
#include "runtime/io/Safetensors.h"

#include "runtime/io/Npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace nnc;
namespace fs = std::filesystem;

namespace {

/// The text of a failed result's single error.
template <typename T> std::string message(const Result<T> &r) {
  if (r.ok() || r.diags().list().size() != 1)
    return "<not one error>";
  return r.diags().list()[0].message;
}

Tensor iota(DType dtype, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, dtype == DType::F32 ? i * 0.75 - 3.25 : i * 1000003 - 7);
  return t;
}

void expectSameTensor(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes())), 0);
}

/// A safetensors file with the given header text (unpadded) and data bytes.
std::string file(const std::string &header, const std::string &data = "") {
  std::string out;
  for (size_t i = 0; i < 8; ++i)
    out += static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + data;
}

/// The error of parsing a file with this header and data, named "f".
std::string parseError(const std::string &header, const std::string &data = "") {
  Result<NamedTensors> r = parseSafetensors(file(header, data), "f");
  return message(r);
}

/// A header with one f32 tensor "w" of the given shape and offsets.
std::string oneTensor(const std::string &shape, const std::string &offsets,
                      const std::string &dtype = "F32") {
  return R"({"w":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets +
         "}}";
}

class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::temp_directory_path() / ("nnc-st-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  std::string writeFile(const std::string &name, const std::string &bytes) {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  fs::path dir_;
};

NamedTensors sampleTensors() {
  return {{"w1", iota(DType::F32, {3, 2})},
          {"w1.m", iota(DType::F32, {3, 2})},
          {"adam.step", Tensor::scalar(12)},
          {"counts", iota(DType::I32, {5})},
          {"empty", Tensor(DType::I32, {0, 3})},
          {"name \"quoted\"\n\\ caf\xc3\xa9", iota(DType::F32, {1, 1, 2})}};
}

TEST_F(SafetensorsTest, RoundTrip) {
  NamedTensors tensors = sampleTensors();
  std::map<std::string, std::string> meta{
      {"format", "nnc"}, {"model", "mlp \"v2\""}, {"epoch", "3"}};
  ASSERT_TRUE(writeSafetensors(path("c.safetensors"), tensors, meta).ok());
  std::map<std::string, std::string> readMeta;
  Result<NamedTensors> r = readSafetensors(path("c.safetensors"), &readMeta);
  ASSERT_TRUE(r.ok()) << r.errorText();
  ASSERT_EQ(r->size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ((*r)[i].first, tensors[i].first); // in the order given
    expectSameTensor((*r)[i].second, tensors[i].second);
  }
  EXPECT_EQ(readMeta, meta);
  EXPECT_EQ(fs::file_size(path("c.safetensors")) % 4, 0u);

  // No tensors, no metadata: the smallest file, "{}" padded to 8 bytes.
  ASSERT_TRUE(writeSafetensors(path("e.safetensors"), {}, {}).ok());
  Result<NamedTensors> e = readSafetensors(path("e.safetensors"), &readMeta);
  ASSERT_TRUE(e.ok()) << e.errorText();
  EXPECT_TRUE(e->empty());
  EXPECT_TRUE(readMeta.empty());
  EXPECT_EQ(fs::file_size(path("e.safetensors")), 16u);
}

TEST_F(SafetensorsTest, ByteLayoutMatchesTheSpecification) {
  // Hand-checked against the format's specification: u64 little-endian
  // header size N, N bytes of compact JSON padded with spaces to a multiple
  // of 8, then the data in the order given, little-endian.
  float a[] = {1.0f, -2.0f};
  int32_t b[] = {7};
  Result<std::string> bytes = encodeSafetensors(
      {{"a", Tensor::f32({2}, a)}, {"b", Tensor::i32({}, b)}}, {{"format", "nnc"}});
  ASSERT_TRUE(bytes.ok()) << bytes.errorText();
  std::string header = R"({"__metadata__":{"format":"nnc"},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}})"
                       "     "; // 139 bytes of JSON + 5 spaces = 144 = 0x90
  std::string expected = std::string("\x90\0\0\0\0\0\0\0", 8) + header +
                         std::string("\0\0\x80\x3f"
                                     "\0\0\0\xc0"
                                     "\x07\0\0\0",
                                     12);
  EXPECT_EQ(*bytes, expected);
}

TEST_F(SafetensorsTest, ReadsHeadersAsOtherWritersFormatThem) {
  // Spaces, metadata last, tensors out of data order, \u escapes (a
  // surrogate pair for U+1F600), padding.
  std::string data(12, '\0');
  int32_t seven = 7;
  float half = 0.5f;
  std::memcpy(&data[0], &seven, 4);
  std::memcpy(&data[4], &half, 4);
  std::memcpy(&data[8], &half, 4);
  std::string header = "{ \"b\\u00e9\\ud83d\\ude00\" : {\"shape\": [2], \"dtype\": \"F32\", "
                       "\"data_offsets\": [4, 12]},\n \"a\\/x\": {\"dtype\":\"I32\", "
                       "\"shape\":[], \"data_offsets\":[0,4]}, \"__metadata__\": {\"k\": "
                       "\"v\\tw\"}}   ";
  std::map<std::string, std::string> meta;
  Result<NamedTensors> r = parseSafetensors(file(header, data), "f", &meta);
  ASSERT_TRUE(r.ok()) << r.errorText();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, "b\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ((*r)[0].second.typeString(), "f32[2]");
  EXPECT_EQ((*r)[0].second.f32()[1], 0.5f);
  EXPECT_EQ((*r)[1].first, "a/x");
  EXPECT_EQ((*r)[1].second.typeString(), "i32[]");
  EXPECT_EQ((*r)[1].second.i32()[0], 7);
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"k", "v\tw"}}));
}

TEST_F(SafetensorsTest, TruncatedAndForeignFiles) {
  EXPECT_EQ(message(parseSafetensors("", "f")), "f: not a safetensors file (empty file)");
  EXPECT_EQ(message(parseSafetensors("abc", "f")),
            "f: truncated: 3 bytes, too short for the 8-byte header length");
  EXPECT_EQ(message(parseSafetensors(std::string("\x10\0\0\0\0\0\0\0{}", 10), "f")),
            "f: truncated: header length is 16 bytes but only 2 bytes follow");
  // A .npy file is not a safetensors file.
  std::string npy = encodeNpy(iota(DType::F32, {2}));
  EXPECT_EQ(message(parseSafetensors(npy, "f")),
            "f: not a safetensors file (its first 8 bytes give a header length "
            "of 379676406402707 bytes; the limit is 100000000)");
  EXPECT_EQ(parseError("[1, 2]"), "f: not a safetensors file (the header does not start with '{')");
  EXPECT_EQ(parseError(""), "f: not a safetensors file (the header does not start with '{')");
  EXPECT_EQ(message(readSafetensors(path("missing"))),
            path("missing") + ": cannot open: No such file or directory");

  // Every proper prefix of a valid file fails, naming the file.
  Result<std::string> bytes = encodeSafetensors(sampleTensors(), {{"k", "v"}});
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    Result<NamedTensors> r = parseSafetensors(bytes->substr(0, n), "f");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(message(r).rfind("f: ", 0), 0u) << n;
  }
  std::string cut = bytes->substr(0, bytes->size() - 4);
  EXPECT_EQ(message(parseSafetensors(cut, "f")),
            "f: tensor 'name \"quoted\"\\x0a\\x5c caf\\xc3\\xa9': data_offsets "
            "[72, 80] are out of range (the data is 76 bytes)");
}

TEST_F(SafetensorsTest, MalformedJson) {
  auto bad = [](const std::string &header) { return parseError(header); };
  EXPECT_EQ(bad("{\"w\" {}}"), "f: malformed header: expected ':' after 'w' at header byte 5, "
                               "found '{'");
  EXPECT_EQ(bad(R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},})"),
            "f: malformed header: expected a quoted tensor name at header byte "
            "53, found '}'");
  EXPECT_EQ(bad(R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]})"),
            "f: malformed header: expected ',' or '}' at header byte 52, found "
            "the end of the header");
  EXPECT_EQ(bad(R"({"w)"), "f: malformed header: unterminated string");
  EXPECT_EQ(bad(R"({"a\qb":1})"), "f: malformed header: bad escape '\\q' at header byte 3");
  EXPECT_EQ(bad(R"({"a\ud800":1})"),
            "f: malformed header: lone surrogate \\ud800 at header byte 3");
  EXPECT_EQ(bad(R"({"a\udc00":1})"),
            "f: malformed header: lone surrogate \\udc00 at header byte 3");
  EXPECT_EQ(bad(R"({"a\u12g4":1})"), "f: malformed header: expected four hex digits after '\\u' at "
                                     "header byte 7, found 'g'");
  EXPECT_EQ(bad("{\"a\tb\":1}"), "f: malformed header: control character \\x09 in a string at "
                                 "header byte 3");
  EXPECT_EQ(bad("{\"a\xff\":1}"), "f: malformed header: invalid UTF-8 at header byte 3");
  EXPECT_EQ(bad("{\"a\xc0\x80\":1}"), // an overlong NUL
            "f: malformed header: invalid UTF-8 at header byte 3");
  EXPECT_EQ(bad(oneTensor("[01]", "[0,4]")),
            "f: malformed header: leading zero in the number at header byte "
            "29");
  EXPECT_EQ(bad(oneTensor("[-1]", "[0,4]")),
            "f: malformed header: negative number at header byte 29");
  EXPECT_EQ(bad(oneTensor("[1.0]", "[0,4]")),
            "f: malformed header: expected an integer at header byte 29");
  EXPECT_EQ(bad(oneTensor("[1e3]", "[0,4]")),
            "f: malformed header: expected an integer at header byte 29");
  EXPECT_EQ(bad(oneTensor("[99999999999999999999]", "[0,4]")),
            "f: malformed header: integer at header byte 29 is too large");
  EXPECT_EQ(bad(oneTensor("[true]", "[0,4]")),
            "f: malformed header: expected a non-negative integer at header "
            "byte 29, found 't'");
  EXPECT_EQ(bad(oneTensor("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", "[0,4]")),
            "f: malformed header: expected a non-negative integer at header "
            "byte 29, found '['");
  EXPECT_EQ(bad(oneTensor("[1]", "[0,4]") + "x"),
            "f: malformed header: expected only spaces after the header object "
            "at header byte 54, found 'x'");
  EXPECT_EQ(bad(R"({"w":[]})"), "f: malformed header: expected '{' (the entry of tensor 'w') at "
                                "header byte 5, found '['");
  EXPECT_EQ(bad(R"({"__metadata__":{"k":1}})"),
            "f: malformed header: expected a string value for metadata key 'k' "
            "at header byte 21, found '1'");
  EXPECT_EQ(bad(R"({"__metadata__":{"k":"a","k":"b"}})"),
            "f: malformed header: duplicate metadata key 'k'");
  EXPECT_EQ(bad(R"({"__metadata__":{},"__metadata__":{}})"),
            "f: malformed header: duplicate key '__metadata__'");
  EXPECT_EQ(bad(R"({"w":{"dtype":"F32","dtype":"F32"}})"),
            "f: malformed header: tensor 'w': duplicate key 'dtype'");
  EXPECT_EQ(bad(R"({"w":{"dtype":"F32","shape":[]}})"),
            "f: malformed header: tensor 'w' has no 'data_offsets'");
  EXPECT_EQ(bad(R"({"w":{"dtype":"F32","strides":[]}})"),
            "f: malformed header: tensor 'w': unexpected key 'strides'");
  EXPECT_EQ(bad(oneTensor("[1]", "[0,4,8]")),
            "f: malformed header: the data_offsets of tensor 'w' has more than "
            "2 entries");
  EXPECT_EQ(bad(oneTensor("[1]", "[0]")),
            "f: malformed header: tensor 'w': data_offsets must be [begin, "
            "end]");
  std::string deep = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[";
  EXPECT_EQ(bad(oneTensor(deep + deep + deep, "[0,4]")),
            "f: malformed header: expected a non-negative integer at header "
            "byte 29, found '['");
}

TEST_F(SafetensorsTest, InconsistentEntries) {
  std::string four(4, '\0'), eight(8, '\0');
  EXPECT_EQ(parseError(oneTensor("[2]", "[0,4]", "F16"), four),
            "f: tensor 'w' has unsupported dtype 'F16' (nnc reads F32 and "
            "I32)");
  EXPECT_EQ(parseError(oneTensor("[2]", "[0,4]", "BF16"), four),
            "f: tensor 'w' has unsupported dtype 'BF16' (nnc reads F32 and "
            "I32)");
  EXPECT_EQ(parseError(oneTensor("[2]", "[0,4]"), four),
            "f: tensor 'w': data_offsets [0, 4] hold 4 bytes, but f32[2] needs "
            "8");
  EXPECT_EQ(parseError(oneTensor("[1]", "[4,0]"), four),
            "f: tensor 'w': data_offsets [4, 0] end before they begin");
  EXPECT_EQ(parseError(oneTensor("[1]", "[4,8]"), four),
            "f: tensor 'w': data_offsets [4, 8] are out of range (the data is "
            "4 bytes)");
  EXPECT_EQ(parseError(oneTensor("[1]", "[0,4]"), eight),
            "f: the last 4 bytes of data belong to no tensor");
  EXPECT_EQ(parseError(oneTensor("[1]", "[4,8]"), eight),
            "f: 4 bytes of data before tensor 'w' belong to no tensor");
  EXPECT_EQ(parseError(oneTensor("[1099511627776,2]", "[0,4]"), four),
            "f: tensor 'w': shape [1099511627776, 2] has more than 2^40 "
            "elements");
  EXPECT_EQ(parseError(oneTensor("[1099511627777]", "[0,4]"), four),
            "f: tensor 'w': shape [1099511627777] has more than 2^40 elements");
  EXPECT_EQ(parseError(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}})",
                       eight),
            "f: tensors 'a' and 'b' overlap");
  EXPECT_EQ(parseError(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}})",
                       eight),
            "f: duplicate tensor name 'a'");
  // Empty tensors may sit anywhere between the others.
  Result<NamedTensors> ok =
      parseSafetensors(file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("z":{"dtype":"I32","shape":[0,5],"data_offsets":[4,4]},)"
                            R"("b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}})",
                            eight),
                       "f");
  ASSERT_TRUE(ok.ok()) << ok.errorText();
  EXPECT_EQ((*ok)[1].second.typeString(), "i32[0, 5]");
}

TEST_F(SafetensorsTest, MutationsNeverCrash) {
  // Deterministic byte mutations of a valid file: each parses or fails with
  // a message naming the file (under ASan, also without memory errors).
  Result<std::string> bytes = encodeSafetensors(sampleTensors(), {{"k", "v"}});
  ASSERT_TRUE(bytes.ok());
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  const char interesting[] = {'{', '}', '[', ']', '"',  '\\',   ',', ':',
                              '0', '9', '-', ' ', '\0', '\xff', 'u', 'e'};
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = *bytes;
    for (int k = 0, n = 1 + static_cast<int>(next() % 3); k < n; ++k) {
      size_t at = next() % m.size();
      if (next() % 2)
        m[at] = interesting[next() % sizeof(interesting)];
      else
        m[at] = static_cast<char>(next());
    }
    Result<NamedTensors> r = parseSafetensors(m, "f");
    if (r.ok())
      ++parsed;
    else
      ASSERT_EQ(message(r).rfind("f: ", 0), 0u) << message(r);
  }
  EXPECT_GT(parsed, 0); // mutations of the data bytes are harmless
}

TEST_F(SafetensorsTest, WriteErrors) {
  std::string target = path("no/such/dir/c.safetensors");
  EXPECT_EQ(message(writeSafetensors(target, sampleTensors(), {})),
            target + ": cannot write: No such file or directory");
  EXPECT_EQ(message(writeSafetensors(path("c.safetensors"),
                                     {{"w", Tensor::scalar(1)}, {"w", Tensor::scalar(2)}}, {})),
            path("c.safetensors") + ": cannot write: duplicate tensor name 'w'");
  EXPECT_EQ(
      message(writeSafetensors(path("c.safetensors"), {{"__metadata__", Tensor::scalar(1)}}, {})),
      path("c.safetensors") + ": cannot write: tensor name '__metadata__' is reserved");
  EXPECT_EQ(message(writeSafetensors(path("c.safetensors"), {{"w", Tensor()}}, {})),
            path("c.safetensors") + ": cannot write: tensor 'w' has no storage");
  EXPECT_EQ(message(writeSafetensors(path("c.safetensors"), {{"bad\xff", Tensor::scalar(1)}}, {})),
            path("c.safetensors") + ": cannot write: tensor name 'bad\\xff' is not valid UTF-8");
  EXPECT_FALSE(fs::exists(path("c.safetensors")));

  // A failed write leaves the old file as it was, and no temporary file.
  ASSERT_TRUE(writeSafetensors(path("c.safetensors"), sampleTensors(), {}).ok());
  auto before = fs::file_size(path("c.safetensors"));
  EXPECT_FALSE(writeSafetensors(path("c.safetensors"),
                                {{"w", Tensor::scalar(1)}, {"w", Tensor::scalar(2)}}, {})
                   .ok());
  EXPECT_EQ(fs::file_size(path("c.safetensors")), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1);
}

TEST_F(SafetensorsTest, ReadableByPythonFromTheSpecification) {
  // An independent reader written from the format's specification with
  // Python's json and numpy; it also checks the JSON escaping.
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with numpy is not installed";
  ASSERT_TRUE(writeSafetensors(path("c.safetensors"), sampleTensors(),
                               {{"format", "nnc"}, {"note", "a \"b\"\n"}})
                  .ok());
  std::string script = writeFile("read.py", R"(import sys, json, struct
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n, = struct.unpack('<Q', raw[:8])
assert n % 8 == 0, n
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
assert header.pop('__metadata__') == {'format': 'nnc', 'note': 'a "b"\n'}
names = list(header)
assert names == ['w1', 'w1.m', 'adam.step', 'counts', 'empty',
                 'name "quoted"\n\\ caf\u00e9'], names
end = 0
for name in names:
    e = header[name]
    b, f = e['data_offsets']
    assert b == end, (name, b, end)
    end = f
    dt = {'F32': '<f4', 'I32': '<i4'}[e['dtype']]
    a = np.frombuffer(data[b:f], dtype=dt).reshape(e['shape'])
    header[name] = a
assert end == len(data)
w1 = np.arange(6, dtype=np.float32).reshape(3, 2) * 0.75 - 3.25
assert (header['w1'] == w1).all() and (header['w1.m'] == w1).all()
assert header['adam.step'].shape == () and header['adam.step'] == 12
assert (header['counts'] == np.arange(5) * 1000003 - 7).all()
assert header['counts'].dtype == np.int32
assert header['empty'].shape == (0, 3)
)");
  EXPECT_EQ(std::system(("/usr/bin/python3 " + script + " " + path("c.safetensors")).c_str()), 0);
}

TEST_F(SafetensorsTest, InterchangesWithThePythonPackage) {
  if (std::system("/usr/bin/python3 -c 'import safetensors, numpy' "
                  ">/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with the safetensors package is not installed";
  ASSERT_TRUE(writeSafetensors(path("nnc.safetensors"), sampleTensors(), {{"format", "nnc"}}).ok());
  std::string script = writeFile("st.py", R"(import sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
t = load_file(d + '/nnc.safetensors')
w1 = np.arange(6, dtype=np.float32).reshape(3, 2) * 0.75 - 3.25
assert (t['w1'] == w1).all() and t['adam.step'] == 12, t
assert t['empty'].shape == (0, 3) and t['counts'].dtype == np.int32
with safe_open(d + '/nnc.safetensors', 'np') as f:
    assert f.metadata() == {'format': 'nnc'}
save_file({'x': np.arange(4, dtype=np.float32), 'y': np.array(3, np.int32)},
          d + '/py.safetensors', metadata={'by': 'python'})
)");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir_.string()).c_str()), 0);
  std::map<std::string, std::string> meta;
  Result<NamedTensors> r = readSafetensors(path("py.safetensors"), &meta);
  ASSERT_TRUE(r.ok()) << r.errorText();
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"by", "python"}}));
  ASSERT_EQ(r->size(), 2u);
  for (const auto &[name, t] : *r)
    EXPECT_EQ(t.typeString(), name == "x" ? "f32[4]" : "i32[]");
}

} // namespace
