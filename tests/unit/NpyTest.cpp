/// Tests of the .npy reader and writer: round trips, every class of malformed
/// file, atomic writes, and interchange with numpy itself.
#include "runtime/io/Npy.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

using namespace nnc;
namespace fs = std::filesystem;

namespace {

/// A .npy file with a hand-written header dict (padded like numpy's) and
/// raw data bytes; `major` picks the format version.
std::string npyBytes(const std::string &dict, const std::string &data, int major = 1) {
  size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < preamble - 8; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string dictFor(const std::string &descr, const std::string &shape,
                    const std::string &fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

Tensor iota(DType dtype, std::vector<int64_t> shape) {
  Tensor t(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i)
    t.set(i, dtype == DType::F32 ? i * 0.75 - 3.25 : i * 1000003 - 7);
  return t;
}

/// The text of a failed result's single error, without "error: ".
template <typename T> std::string message(const Result<T> &r) {
  if (r.ok() || r.diags().list().size() != 1)
    return "<not one error>";
  return r.diags().list()[0].message;
}

void expectSameTensor(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.bytes())), 0);
}

class NpyTest : public ::testing::Test {
protected:
  void SetUp() override {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::temp_directory_path() / ("nnc-npy-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  std::string writeFile(const std::string &name, const std::string &bytes) {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  /// The file names in the test's directory.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(dir_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  /// The error of reading `bytes` as a file called `name`; also checks that
  /// parseNpy gives the same error as readNpy.
  std::string readError(const std::string &name, const std::string &bytes) {
    Result<Tensor> r = readNpy(writeFile(name, bytes));
    EXPECT_FALSE(r.ok());
    Result<Tensor> p = parseNpy(bytes, path(name));
    EXPECT_FALSE(p.ok());
    EXPECT_EQ(message(r), message(p));
    return message(r);
  }

  fs::path dir_;
};

TEST_F(NpyTest, RoundTripsF32OfEveryRank) {
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{}, {5}, {2, 3}, {2, 3, 4}, {2, 1, 3, 2}}) {
    Tensor t = iota(DType::F32, shape);
    ASSERT_TRUE(writeNpy(path("t.npy"), t).ok());
    Result<Tensor> back = readNpy(path("t.npy"));
    ASSERT_TRUE(back.ok()) << back.errorText();
    expectSameTensor(*back, t);
  }
}

TEST_F(NpyTest, RoundTripsI32OfEveryRank) {
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{}, {7}, {3, 2}, {1, 2, 3}, {2, 2, 2, 2}}) {
    Tensor t = iota(DType::I32, shape);
    t.i32()[0] = INT32_MIN;
    ASSERT_TRUE(writeNpy(path("t.npy"), t).ok());
    Result<Tensor> back = readNpy(path("t.npy"));
    ASSERT_TRUE(back.ok()) << back.errorText();
    expectSameTensor(*back, t);
  }
}

TEST_F(NpyTest, RoundTripsZeroSizeDims) {
  for (DType dtype : {DType::F32, DType::I32})
    for (std::vector<int64_t> shape : {std::vector<int64_t>{0}, {3, 0}, {0, 2, 5}, {1, 1, 0, 4}}) {
      Tensor t(dtype, shape);
      ASSERT_TRUE(writeNpy(path("z.npy"), t).ok());
      Result<Tensor> back = readNpy(path("z.npy"));
      ASSERT_TRUE(back.ok()) << back.errorText();
      EXPECT_EQ(back->shape(), shape);
      EXPECT_EQ(back->dtype(), dtype);
      EXPECT_EQ(back->numel(), 0);
    }
}

TEST_F(NpyTest, EncodesLikeNumpy) {
  std::string bytes = encodeNpy(iota(DType::F32, {2, 3}));
  std::string header = npyBytes(dictFor("<f4", "(2, 3)"), "");
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  EXPECT_EQ(bytes.size(), 128u + 24u); // numpy's header is 128 bytes too
  EXPECT_NE(encodeNpy(Tensor::scalar(1)).find("'shape': (), }"), std::string::npos);
  EXPECT_NE(encodeNpy(Tensor(DType::I32, {4})).find("'<i4'"), std::string::npos);
  EXPECT_NE(encodeNpy(Tensor(DType::I32, {4})).find("(4,)"), std::string::npos);
}

TEST_F(NpyTest, AcceptsHeaderVariants) {
  std::string data(24, '\0');
  for (std::string dict : {
           std::string("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}"),
           std::string("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}"),
           std::string("  {  'descr' : '<f4' ,\t'fortran_order' : False , "
                       "'shape' : ( 2 , 3 , ) , }  "),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L)}"),
       }) {
    Result<Tensor> r = parseNpy(npyBytes(dict, data), "v.npy");
    ASSERT_TRUE(r.ok()) << dict << "\n" << r.errorText();
    EXPECT_EQ(r->shape(), (std::vector<int64_t>{2, 3}));
  }
  for (int major : {2, 3}) {
    Result<Tensor> r = parseNpy(npyBytes(dictFor("<i4", "(6,)"), data, major), "v.npy");
    ASSERT_TRUE(r.ok()) << r.errorText();
    EXPECT_EQ(r->dtype(), DType::I32);
  }
}

TEST_F(NpyTest, RejectsBadMagic) {
  std::string bytes = encodeNpy(Tensor::scalar(1));
  bytes[1] = 'X';
  EXPECT_EQ(readError("x.npy", bytes), path("x.npy") + ": not a .npy file (bad magic)");
  EXPECT_EQ(message(parseNpy("hello, world", "x.npy")), "x.npy: not a .npy file (bad magic)");
  EXPECT_EQ(readError("e.npy", ""), path("e.npy") + ": not a .npy file (empty file)");
}

TEST_F(NpyTest, RejectsTruncatedData) {
  std::string bytes = npyBytes(dictFor("<f4", "(3, 4)"), std::string(40, '\1'));
  EXPECT_EQ(readError("x.npy", bytes), path("x.npy") +
                                           ": truncated: header says 12 elements (48 bytes) but 40 "
                                           "bytes follow");
}

TEST_F(NpyTest, RejectsTruncatedPreambleAndHeader) {
  std::string full = encodeNpy(iota(DType::F32, {2, 2}));
  EXPECT_NE(readError("p.npy", full.substr(0, 7))
                .find(": truncated: the file ends inside the .npy preamble"),
            std::string::npos);
  EXPECT_NE(readError("h.npy", full.substr(0, 40))
                .find(": truncated: header length is 118 bytes but only 30 bytes "
                      "follow"),
            std::string::npos);
}

TEST_F(NpyTest, RejectsTrailingBytes) {
  std::string bytes = npyBytes(dictFor("<f4", "(3, 4)"), std::string(56, '\1'));
  EXPECT_EQ(readError("x.npy", bytes),
            path("x.npy") + ": size mismatch: header says 12 elements (48 bytes) but 56 "
                            "bytes follow");
}

TEST_F(NpyTest, RejectsUnsupportedDtype) {
  std::string bytes = npyBytes(dictFor("<f8", "(3,)"), std::string(24, '\0'));
  EXPECT_EQ(readError("x.npy", bytes),
            path("x.npy") + ": unsupported dtype '<f8' (nnc reads <f4 and <i4)");
  std::string structured =
      npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "abcd");
  EXPECT_NE(readError("s.npy", structured).find(": unsupported dtype: structured"),
            std::string::npos);
}

TEST_F(NpyTest, RejectsBigEndian) {
  std::string bytes = npyBytes(dictFor(">f4", "(2,)"), std::string(8, '\0'));
  EXPECT_EQ(readError("x.npy", bytes),
            path("x.npy") + ": big-endian dtype '>f4' is not supported (nnc reads <f4 "
                            "and <i4)");
}

TEST_F(NpyTest, RejectsFortranOrder) {
  std::string bytes = npyBytes(dictFor("<f4", "(2, 3)", "True"), std::string(24, '\0'));
  EXPECT_EQ(readError("x.npy", bytes), path("x.npy") + ": Fortran order is not supported");
}

TEST_F(NpyTest, RejectsMissingFile) {
  Result<Tensor> r = readNpy(path("missing.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(message(r), path("missing.npy") + ": cannot open: No such file or directory");
}

TEST_F(NpyTest, RejectsDirectory) {
  Result<Tensor> r = readNpy(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(message(r), dir_.string() + ": cannot open: Is a directory");
}

TEST_F(NpyTest, RejectsUnsupportedVersion) {
  std::string bytes = encodeNpy(Tensor::scalar(1));
  bytes[6] = 4;
  EXPECT_NE(readError("x.npy", bytes).find(": unsupported .npy format version 4.0"),
            std::string::npos);
}

TEST_F(NpyTest, RejectsMalformedHeaders) {
  struct Case {
    std::string dict;
    std::string reason;
  };
  const std::string big = "1099511627777"; // 2^40 + 1
  std::string manyDims;
  for (int i = 0; i < 65; ++i)
    manyDims += "1, ";
  std::vector<Case> cases = {
      {"{'descr': '<f4', 'shape': (1,)}", "malformed header: missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
       "malformed header: unexpected key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
       "malformed header: duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
       "malformed header: expected True or False for 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
       "malformed header: expected a tuple '(...)' for 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
       "malformed header: expected ',' or ')' in the shape"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}",
       "malformed header: expected ':' after key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
       "malformed header: expected only spaces after the dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
       "malformed header: expected ',' or '}'"},
      {"{'descr", "malformed header: unterminated string"},
      {"[]", "malformed header: expected '{' at header byte 0, found '['"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
       "negative dimension -3 in the shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (" + big + ",)}",
       "dimension " + big + " is too large (at most 2^40)"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 2)}",
       "too many elements: shape (1048576, 1048576, 2) has more than 2^40"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (" + manyDims + ")}",
       "malformed header: shape has more than 64 dimensions"},
  };
  for (const Case &c : cases) {
    std::string text = message(parseNpy(npyBytes(c.dict, "\1\2\3\4"), "m.npy"));
    EXPECT_EQ(text.rfind("m.npy: " + c.reason, 0), 0u) << "header: " << c.dict << "\ngot: " << text;
  }
}

TEST_F(NpyTest, RejectsHeaderLongerThanFile) {
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += "\xe8\x03"; // header of 1000 bytes
  bytes += "{'descr': '<f4'}";
  EXPECT_NE(readError("x.npy", bytes)
                .find("x.npy: truncated: header length is 1000 bytes but only 16 "
                      "bytes follow"),
            std::string::npos);
  bytes[6] = 2; // format 2.0: a four-byte length of 0x277b03e8 bytes
  EXPECT_NE(
      readError("y.npy", bytes).find("y.npy: malformed header: header length 662373352 exceeds"),
      std::string::npos);
}

/// Every prefix and many random corruptions of a valid file: each one reads
/// back or fails with a message naming the file, and none crashes.
TEST_F(NpyTest, SurvivesCorruptedFiles) {
  std::string good = encodeNpy(iota(DType::F32, {2, 3}));
  for (size_t n = 0; n < good.size(); ++n) {
    std::string text = message(parseNpy(good.substr(0, n), "c.npy"));
    EXPECT_EQ(text.rfind("c.npy: ", 0), 0u) << n;
  }
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  for (int trial = 0; trial < 20000; ++trial) {
    std::string bytes = good;
    for (int flips = 1 + static_cast<int>(next() % 4); flips > 0; --flips)
      bytes[next() % bytes.size()] = static_cast<char>(next() & 0xff);
    Result<Tensor> r = parseNpy(bytes, "c.npy");
    if (!r.ok()) {
      EXPECT_EQ(message(r).rfind("c.npy: ", 0), 0u) << message(r);
    }
  }
}

TEST_F(NpyTest, AtomicWriteLeavesNoTempFile) {
  ASSERT_TRUE(writeNpy(path("a.npy"), iota(DType::F32, {3})).ok());
  ASSERT_TRUE(writeNpy(path("a.npy"), iota(DType::I32, {2, 2})).ok());
  EXPECT_EQ(listing(), std::vector<std::string>{"a.npy"});
  Result<Tensor> back = readNpy(path("a.npy"));
  ASSERT_TRUE(back.ok());
  expectSameTensor(*back, iota(DType::I32, {2, 2}));
}

TEST_F(NpyTest, WriteIntoMissingDirectoryFailsCleanly) {
  std::string target = path("no/such/dir/a.npy");
  Status s = writeNpy(target, Tensor::scalar(1));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(message(s), target + ": cannot write: No such file or directory");
  EXPECT_TRUE(listing().empty());
}

TEST_F(NpyTest, FailedWriteKeepsTheOldFile) {
  Tensor old = iota(DType::F32, {4});
  ASSERT_TRUE(writeNpy(path("a.npy"), old).ok());
  // A write that fails half-way, as on a full disk: a file size limit
  // (which holds for root too) stops it after 1000 bytes.
  struct rlimit before = {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status s = writeNpy(path("a.npy"), iota(DType::F32, {1000}));
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, oldHandler);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.errorText().find(path("a.npy") + ": cannot write: File too large"), std::string::npos)
      << s.errorText();
  Result<Tensor> back = readNpy(path("a.npy"));
  ASSERT_TRUE(back.ok()) << back.errorText();
  expectSameTensor(*back, old);
  EXPECT_EQ(listing(), std::vector<std::string>{"a.npy"});
}

TEST_F(NpyTest, WriteOverADirectoryFailsAndRemovesTheTempFile) {
  fs::create_directory(path("d.npy"));
  Status s = writeNpy(path("d.npy"), Tensor::scalar(2));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(message(s).rfind(path("d.npy") + ": cannot write: ", 0), 0u);
  EXPECT_EQ(listing(), std::vector<std::string>{"d.npy"});
}

TEST_F(NpyTest, InterchangesWithNumpy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with numpy is not installed";
  std::string d = dir_.string();
  std::string save = writeFile("save.py", R"(import sys, numpy as np
d = sys.argv[1]
np.save(d + '/np_f32.npy', np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.25 - 1)
np.save(d + '/np_i32.npy', np.array(-7, dtype=np.int32))
np.save(d + '/np_empty.npy', np.zeros((2, 0), dtype=np.float32))
np.save(d + '/np_fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.save(d + '/np_f64.npy', np.ones(3))
)");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + save + " " + d).c_str()), 0);

  Result<Tensor> f = readNpy(path("np_f32.npy"));
  ASSERT_TRUE(f.ok()) << f.errorText();
  EXPECT_EQ(f->shape(), (std::vector<int64_t>{2, 3, 4}));
  for (int64_t i = 0; i < f->numel(); ++i)
    EXPECT_EQ(f->f32()[i], static_cast<float>(i) * 0.25f - 1);
  Result<Tensor> s = readNpy(path("np_i32.npy"));
  ASSERT_TRUE(s.ok()) << s.errorText();
  EXPECT_EQ(s->rank(), 0u);
  EXPECT_EQ(s->i32()[0], -7);
  Result<Tensor> e = readNpy(path("np_empty.npy"));
  ASSERT_TRUE(e.ok()) << e.errorText();
  EXPECT_EQ(e->shape(), (std::vector<int64_t>{2, 0}));
  EXPECT_NE(readNpy(path("np_fortran.npy")).errorText().find("Fortran order"), std::string::npos);
  EXPECT_NE(readNpy(path("np_f64.npy")).errorText().find("'<f8'"), std::string::npos);

  ASSERT_TRUE(writeNpy(path("nnc_f32.npy"), iota(DType::F32, {3, 2})).ok());
  ASSERT_TRUE(writeNpy(path("nnc_i32.npy"), iota(DType::I32, {4})).ok());
  ASSERT_TRUE(writeNpy(path("nnc_scalar.npy"), Tensor::scalar(2.5f)).ok());
  ASSERT_TRUE(writeNpy(path("nnc_empty.npy"), Tensor(DType::I32, {0, 3})).ok());
  std::string load = writeFile("load.py", R"(import sys, numpy as np
d = sys.argv[1]
a = np.load(d + '/nnc_f32.npy')
assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)
assert (a == np.arange(6, dtype=np.float32).reshape(3, 2) * 0.75 - 3.25).all(), a
b = np.load(d + '/nnc_i32.npy')
assert b.dtype == np.int32 and (b == np.arange(4) * 1000003 - 7).all(), b
c = np.load(d + '/nnc_scalar.npy')
assert c.dtype == np.float32 and c.shape == () and c == 2.5, c
e = np.load(d + '/nnc_empty.npy')
assert e.dtype == np.int32 and e.shape == (0, 3), e.shape
)");
  EXPECT_EQ(std::system(("/usr/bin/python3 " + load + " " + d).c_str()), 0);
}

} // namespace
