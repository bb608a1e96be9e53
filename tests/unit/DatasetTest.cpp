/// Tests of the training-data readers (IDX plain and gzipped, CSV, .npy
/// pairs), every class of malformed file, the real Fashion-MNIST and digits
/// data, and deterministic shuffling, batching and hold-out splits.
#include "runtime/io/Dataset.h"

#include "runtime/io/Npy.h"
#include "tests/unit/DatasetTestUtil.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

using namespace nnc;
using namespace nnc::datatest;
namespace fs = std::filesystem;

namespace {

std::string u32be(uint32_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8)
    s += static_cast<char>((v >> shift) & 0xff);
  return s;
}

/// An IDX file: magic, big-endian dims, then the payload bytes.
std::string idx(uint32_t magic, std::vector<uint32_t> dims, const std::string &payload) {
  std::string s = u32be(magic);
  for (uint32_t d : dims)
    s += u32be(d);
  return s + payload;
}

std::string bytesOf(std::vector<int> values) {
  std::string s;
  for (int v : values)
    s += static_cast<char>(v);
  return s;
}

/// `data` compressed in the gzip format, as gzip(1) would.
std::string gzip(const std::string &data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Three 2x3 images with pixels 0, 51, ..., and labels 7, 0, 255.
const std::string kImages =
    idx(0x803, {3, 2, 3},
        bytesOf({0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6, 255, 0, 255, 0, 255, 0}));
const std::string kLabels = idx(0x801, {3}, bytesOf({7, 0, 255}));

class DatasetTest : public ::testing::Test {
protected:
  void SetUp() override {
    const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::temp_directory_path() / ("nnc-data-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  std::string dir() const { return dir_.string(); }
  std::string writeFile(const std::string &name, const std::string &bytes) {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  /// Writes the train pair, each gzipped or not.
  void writeTrain(const std::string &images, const std::string &labels, bool gz = true) {
    writeFile(gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte",
              gz ? gzip(images) : images);
    writeFile(gz ? "train-labels-idx1-ubyte.gz" : "train-labels-idx1-ubyte",
              gz ? gzip(labels) : labels);
  }
  /// The error of reading the train split of the test's directory.
  std::string idxError() { return message(readIdxDirectory(dir(), false)); }
  std::string csvError(const std::string &text) {
    return message(readCsv(writeFile("d.csv", text)));
  }

  fs::path dir_;
};

void expectSmallImages(const Result<Dataset> &d) {
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->features.dtype(), DType::F32);
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_EQ(d->labels.dtype(), DType::I32);
  EXPECT_EQ(d->labels.shape(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(d->imagePixels);
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->exampleElements(), 6);
  const float *f = d->features.f32();
  EXPECT_EQ(f[0], 0.0f);
  EXPECT_EQ(f[1], 0.2f);
  EXPECT_EQ(f[5], 1.0f);
  EXPECT_EQ(f[6], 1.0f / 255.0f);
  EXPECT_EQ(f[17], 0.0f);
  EXPECT_EQ(std::vector<int32_t>(d->labels.i32(), d->labels.i32() + 3),
            (std::vector<int32_t>{7, 0, 255}));
}

// ---- IDX ---------------------------------------------------------------------

TEST_F(DatasetTest, IdxPlainRoundTrip) {
  writeTrain(kImages, kLabels, /*gz=*/false);
  Result<Dataset> d = readIdxDirectory(dir(), false);
  expectSmallImages(d);
  EXPECT_EQ(d->source, path("train-images-idx3-ubyte"));
}

TEST_F(DatasetTest, IdxGzippedRoundTripAndTestSplit) {
  writeTrain(kImages, kLabels);
  EXPECT_FALSE(hasTestSplit(dir()));
  expectSmallImages(readIdxDirectory(dir(), false));
  EXPECT_EQ(message(loadDataset(dir(), true)),
            dir() + ": no test split: neither t10k-images-idx3-ubyte nor "
                    "t10k-images-idx3-ubyte.gz is there");

  // A test split of one image, one gzipped file and one plain.
  writeFile("t10k-images-idx3-ubyte.gz", gzip(idx(0x803, {1, 1, 2}, bytesOf({255, 0}))));
  writeFile("t10k-labels-idx1-ubyte", idx(0x801, {1}, bytesOf({4})));
  EXPECT_TRUE(hasTestSplit(dir()));
  Result<Dataset> t = loadDataset(dir(), true);
  ASSERT_TRUE(t.ok()) << t.errorText();
  EXPECT_EQ(t->features.shape(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(t->features.f32()[0], 1.0f);
  EXPECT_EQ(t->labels.i32()[0], 4);
  expectSmallImages(loadDataset(dir(), false));
}

TEST_F(DatasetTest, IdxMultiMemberGzipAndZeroPadding) {
  // `cat a.gz b.gz` is one valid gzip file; so is one followed by zeros.
  writeFile("train-images-idx3-ubyte.gz", gzip(kImages.substr(0, 10)) + gzip(kImages.substr(10)));
  writeFile("train-labels-idx1-ubyte.gz", gzip(kLabels) + std::string(5, '\0'));
  expectSmallImages(readIdxDirectory(dir(), false));
}

TEST_F(DatasetTest, IdxBadMagic) {
  writeTrain(kImages, idx(0x12345678, {3}, bytesOf({7, 0, 255})));
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte.gz") +
                            ": bad magic 0x12345678 (an IDX label file "
                            "starts with 0x00000801)");
  writeTrain(kLabels, kLabels); // labels where the images should be
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte.gz") +
                            ": bad magic 0x00000801 (an IDX image file "
                            "starts with 0x00000803)");
}

TEST_F(DatasetTest, IdxTruncatedAndOversizedFiles) {
  writeTrain("", kLabels, false);
  EXPECT_EQ(idxError(),
            path("train-images-idx3-ubyte") + ": empty file (expected an IDX image file)");
  writeTrain(kImages.substr(0, 10), kLabels, false);
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte") +
                            ": truncated: the file ends inside the IDX header "
                            "(10 of 16 bytes)");
  writeTrain(kImages.substr(0, kImages.size() - 1), kLabels, false);
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte") +
                            ": truncated: the header says 3 images of 2x3 (18 "
                            "bytes) but only 17 bytes follow");
  writeTrain(kImages, kLabels + "x", false);
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte") +
                            ": size mismatch: the header says 3 labels (3 "
                            "bytes) but more bytes follow");
  // The same, gzipped: the sizes are checked after decompression.
  fs::remove(path("train-images-idx3-ubyte"));
  fs::remove(path("train-labels-idx1-ubyte"));
  writeTrain(kImages.substr(0, kImages.size() - 1), kLabels);
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte.gz") +
                            ": truncated: the header says 3 images of 2x3 (18 "
                            "bytes) but only 17 bytes follow");
}

TEST_F(DatasetTest, IdxBadDimsAndCounts) {
  writeTrain(kImages, idx(0x801, {2}, bytesOf({1, 2})));
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte.gz") + ": 2 labels, but " +
                            path("train-images-idx3-ubyte.gz") + " has 3 images");
  writeTrain(idx(0x803, {0, 2, 3}, ""), idx(0x801, {0}, ""));
  EXPECT_EQ(idxError(),
            path("train-images-idx3-ubyte.gz") + ": no examples: the header says 0 images");
  writeTrain(idx(0x803, {3, 0, 3}, ""), kLabels);
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte.gz") + ": bad dimensions: images of 0x3");
  // A header promising 100 GB is refused before anything is allocated.
  writeTrain(idx(0x803, {100000, 1000, 1000}, "abc"), kLabels);
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte.gz") +
                            ": too large: the header says 100000 images of "
                            "1000x1000, more than 4 GiB");
  // 2^31 * 2^31 * 4 is 2^64: the product wraps to 0 in 64 bits (a fuzzer's
  // find), and must still be refused as too large.
  writeTrain(idx(0x803, {1u << 31, 1u << 31, 4}, "abc"), idx(0x801, {1u << 31}, ""));
  EXPECT_EQ(idxError(), path("train-images-idx3-ubyte.gz") +
                            ": too large: the header says 2147483648 images of "
                            "2147483648x4, more than 4 GiB");
}

TEST_F(DatasetTest, IdxCorruptGzip) {
  std::string gz = gzip(kLabels);
  writeFile("train-images-idx3-ubyte.gz", gzip(kImages));

  // The stream stops before its 8-byte trailer (CRC and length).
  writeFile("train-labels-idx1-ubyte.gz", gz.substr(0, gz.size() - 8));
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte.gz") +
                            ": truncated: the gzip stream ends early (after 11 "
                            "decompressed bytes)");
  // A wrong CRC.
  std::string badCrc = gz;
  badCrc[badCrc.size() - 8] ^= 0x55;
  writeFile("train-labels-idx1-ubyte.gz", badCrc);
  EXPECT_EQ(idxError(),
            path("train-labels-idx1-ubyte.gz") + ": corrupt gzip data: incorrect data check");
  // Garbage after the stream.
  writeFile("train-labels-idx1-ubyte.gz", gz + "junk");
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte.gz") +
                            ": corrupt gzip data: 4 bytes of trailing garbage "
                            "after the compressed stream");
  // A .gz name on plain bytes.
  writeFile("train-labels-idx1-ubyte.gz", kLabels);
  EXPECT_EQ(idxError(), path("train-labels-idx1-ubyte.gz") +
                            ": not a gzip file (the name ends in .gz but the "
                            "bytes do not start with the gzip magic 1f 8b)");
  // Every truncation and every single-byte corruption fails cleanly (or,
  // for a few bytes of the gzip header, is harmless).
  std::string big = gzip(kImages);
  for (size_t n = 0; n < big.size(); ++n) {
    writeFile("train-images-idx3-ubyte.gz", big.substr(0, n));
    writeFile("train-labels-idx1-ubyte.gz", gz);
    EXPECT_EQ(idxError().rfind(path("train-images-idx3-ubyte.gz") + ": ", 0), 0u) << n;
    std::string flipped = big;
    flipped[n] ^= 0xff;
    writeFile("train-images-idx3-ubyte.gz", flipped);
    Result<Dataset> r = readIdxDirectory(dir(), false);
    if (!r.ok()) {
      EXPECT_EQ(message(r).rfind(path("train-images-idx3-ubyte.gz") + ": ", 0), 0u) << n;
    }
  }
}

TEST_F(DatasetTest, IdxMissingFiles) {
  EXPECT_EQ(message(readIdxDirectory(path("nope"), false)), path("nope") + ": not a directory");
  EXPECT_EQ(idxError(), dir() + ": not an IDX data directory: neither "
                                "train-images-idx3-ubyte nor "
                                "train-images-idx3-ubyte.gz is there");
  writeFile("train-images-idx3-ubyte.gz", gzip(kImages));
  EXPECT_EQ(idxError(), dir() +
                            ": neither train-labels-idx1-ubyte nor "
                            "train-labels-idx1-ubyte.gz is there (the "
                            "labels for " +
                            path("train-images-idx3-ubyte.gz") + ")");
}

TEST_F(DatasetTest, RealFashionMnist) {
  const std::string fm = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fm + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << fm << " is not installed (dataset-fashion-mnist)";
  auto start = std::chrono::steady_clock::now();
  Result<Dataset> train = loadDataset(fm, false);
  Result<Dataset> test = loadDataset(fm, true);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(train.ok()) << train.errorText();
  ASSERT_TRUE(test.ok()) << test.errorText();
  EXPECT_TRUE(hasTestSplit(fm));
  // About 0.7 s in a release build; the bound only catches a pathology
  // (e.g. byte-at-a-time reads), with room for sanitizers and busy machines.
  EXPECT_LT(seconds, 10.0);
  EXPECT_EQ(train->features.shape(), (std::vector<int64_t>{60000, 28, 28}));
  EXPECT_EQ(test->features.shape(), (std::vector<int64_t>{10000, 28, 28}));
  for (const Dataset *d : {&*train, &*test}) {
    EXPECT_TRUE(d->imagePixels);
    const float *f = d->features.f32();
    auto [lo, hi] = std::minmax_element(f, f + d->features.numel());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
    // Fashion-MNIST is balanced: a tenth of each split per class.
    std::vector<int64_t> counts(10);
    for (int64_t i = 0; i < d->size(); ++i) {
      int32_t l = d->labels.i32()[i];
      ASSERT_TRUE(l >= 0 && l < 10) << l;
      ++counts[static_cast<size_t>(l)];
    }
    EXPECT_EQ(counts, std::vector<int64_t>(10, d->size() / 10));
  }
  // The first training image is an ankle boot (class 9).
  EXPECT_EQ(train->labels.i32()[0], 9);
}

// ---- CSV ---------------------------------------------------------------------

TEST_F(DatasetTest, DigitsCsv) {
  Result<Dataset> d = loadDataset(NNC_SOURCE_DIR "/examples/data/digits.csv.gz", false);
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_FALSE(d->imagePixels);
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{1797, 64}));
  EXPECT_EQ(d->labels.shape(), (std::vector<int64_t>{1797}));
  const float *f = d->features.f32();
  EXPECT_EQ(std::vector<float>(f, f + 6), (std::vector<float>{0, 0, 5, 13, 9, 1}));
  auto [lo, hi] = std::minmax_element(f, f + d->features.numel());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 16.0f);
  std::set<int32_t> labels(d->labels.i32(), d->labels.i32() + 1797);
  EXPECT_EQ(labels, (std::set<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(d->labels.i32()[0], 0);
  EXPECT_EQ(d->labels.i32()[1], 1);
  EXPECT_EQ(message(loadDataset(NNC_SOURCE_DIR "/examples/data/digits.csv.gz", true)),
            std::string(NNC_SOURCE_DIR "/examples/data/digits.csv.gz") +
                ": no test split (only an IDX directory with t10k files and text: have one)");
}

TEST_F(DatasetTest, CsvPlainAndGzipped) {
  std::string text = "1.5, -2,3e2,0\r\n\n0,0.25,+1,  12\n";
  for (bool gz : {false, true}) {
    std::string p = writeFile(gz ? "d.csv.gz" : "d.csv", gz ? gzip(text) : text);
    Result<Dataset> d = readCsv(p);
    ASSERT_TRUE(d.ok()) << d.errorText();
    EXPECT_EQ(d->source, p);
    EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(std::vector<float>(d->features.f32(), d->features.f32() + 6),
              (std::vector<float>{1.5f, -2, 300, 0, 0.25f, 1}));
    EXPECT_EQ(std::vector<int32_t>(d->labels.i32(), d->labels.i32() + 2),
              (std::vector<int32_t>{0, 12}));
  }
  // No final newline; a label written as a float that is an integer.
  Result<Dataset> d = readCsv(writeFile("e.csv", "1,2.000000e+00"));
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->labels.i32()[0], 2);
}

TEST_F(DatasetTest, CsvErrorsNameTheRowAndColumn) {
  std::string p = path("d.csv");
  EXPECT_EQ(csvError("1,2,3\n4,abc,6\n"), p + ":2: column 2: 'abc' is not a number");
  EXPECT_EQ(csvError("1,2,3\n\n4,5\n"), p + ":3: 2 columns, but the first row has 3");
  EXPECT_EQ(csvError("1,2,3\n4,5,6,7\n"), p + ":2: 4 columns, but the first row has 3");
  EXPECT_EQ(csvError("1,2,-1\n"), p + ":1: column 3: label '-1' is not a non-negative integer");
  EXPECT_EQ(csvError("1,2,3.5\n"), p + ":1: column 3: label '3.5' is not a non-negative integer");
  EXPECT_EQ(csvError("1,2,3000000000\n"),
            p + ":1: column 3: label '3000000000' is not a non-negative "
                "integer");
  EXPECT_EQ(csvError("1,2,x\n"),
            p + ":1: column 3: 'x' is not a number (a header row must have no numbers)");
  EXPECT_EQ(csvError("1,2,3\n1,2,x\n"), p + ":2: column 3: 'x' is not a number");
  EXPECT_EQ(csvError("1,,3\n"), p + ":1: column 2: '' is not a number");
  EXPECT_EQ(csvError("1,nan,3\n"), p + ":1: column 2: 'nan' is not a finite number");
  EXPECT_EQ(csvError("1,1e999,3\n"), p + ":1: column 2: '1e999' is out of range");
  EXPECT_EQ(csvError("1 2,3\n"), p + ":1: column 1: '1 2' is not a number");
  EXPECT_EQ(csvError("7\n"), p + ":1: 1 column; a row needs at least one feature and a label");
  EXPECT_EQ(csvError(""), p + ": no examples: the file has no rows");
  EXPECT_EQ(csvError("\n \n"), p + ": no examples: the file has no rows");
  EXPECT_EQ(message(readCsv(path("missing.csv"))),
            path("missing.csv") + ": cannot open: No such file or directory");
  EXPECT_EQ(message(readCsv(writeFile("bad.csv.gz", "1,2\n"))),
            path("bad.csv.gz") + ": not a gzip file (the name ends in .gz but "
                                 "the bytes do not start with the gzip magic "
                                 "1f 8b)");
}

TEST_F(DatasetTest, CsvLongInput) {
  // Lines cross the reader's 1 MiB chunks: 40000 rows of 10 columns.
  std::string text;
  for (int r = 0; r < 40000; ++r) {
    for (int c = 0; c < 9; ++c)
      text += std::to_string(r * 10 + c) + ",";
    text += std::to_string(r % 7) + "\n";
  }
  Result<Dataset> d = readCsv(writeFile("long.csv.gz", gzip(text)));
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{40000, 9}));
  EXPECT_EQ(d->features.f32()[9 * 39999 + 8], 399998.0f);
  EXPECT_EQ(d->labels.i32()[39999], 39999 % 7);
}

// ---- .npy pairs ----------------------------------------------------------------

TEST_F(DatasetTest, NpyPair) {
  Dataset s = synthetic(4, {2, 3});
  ASSERT_TRUE(writeNpy(path("x.npy"), s.features).ok());
  ASSERT_TRUE(writeNpy(path("y.npy"), s.labels).ok());
  Result<Dataset> d = loadDataset(path("x.npy") + "," + path("y.npy"), false);
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->features.shape(), (std::vector<int64_t>{4, 2, 3}));
  EXPECT_EQ(d->features.f32()[7], 101.0f);
  EXPECT_EQ(d->labels.i32()[3], 3);
  EXPECT_EQ(d->source, path("x.npy") + "," + path("y.npy"));
  EXPECT_FALSE(d->imagePixels);

  auto pairError = [&](const Tensor &x, const Tensor &y) {
    EXPECT_TRUE(writeNpy(path("a.npy"), x).ok());
    EXPECT_TRUE(writeNpy(path("b.npy"), y).ok());
    return message(readNpyPair(path("a.npy"), path("b.npy")));
  };
  EXPECT_EQ(pairError(s.features, Tensor(DType::F32, {4})),
            path("b.npy") + ": labels must be i32 (<i4), found f32[4]; convert "
                            "with .astype(numpy.int32)");
  EXPECT_EQ(pairError(s.features, Tensor(DType::I32, {4, 1})),
            path("b.npy") + ": labels must have shape [N], found i32[4, 1]");
  EXPECT_EQ(pairError(s.features, Tensor(DType::I32, {3})),
            path("b.npy") + ": 3 labels, but " + path("a.npy") + " has 4 rows");
  EXPECT_EQ(pairError(Tensor(DType::I32, {4, 2}), s.labels),
            path("a.npy") + ": features must be f32 (<f4), found i32[4, 2]; "
                            "convert with .astype(numpy.float32)");
  EXPECT_EQ(pairError(Tensor::scalar(1), s.labels), path("a.npy") +
                                                        ": features must have a first dimension of "
                                                        "examples, found f32[]");
  EXPECT_EQ(pairError(Tensor(DType::F32, {0, 2}), Tensor(DType::I32, {0})),
            path("a.npy") + ": no examples: the features have 0 rows");
  Tensor negative = s.labels.clone();
  negative.i32()[2] = -5;
  EXPECT_EQ(pairError(s.features, negative), path("b.npy") + ": row 2: label -5 is negative");
}

TEST_F(DatasetTest, SpecDispatch) {
  EXPECT_EQ(message(loadDataset(path("x.npy"), false)),
            path("x.npy") + ": a .npy dataset is two files: FEATURES.npy,LABELS.npy (one file only "
                            "for a model without a label input)");
  EXPECT_EQ(message(loadDataset("a.npy,", false)), "a.npy,: expected FEATURES.npy,LABELS.npy");
  EXPECT_EQ(message(loadDataset("a.npy,b.npy", true)),
            "a.npy,b.npy: no test split (only an IDX directory with t10k "
            "files and text: have one)");
  EXPECT_EQ(message(loadDataset(path("a.npy") + "," + path("b.npy"), false)),
            path("a.npy") + ": cannot open: No such file or directory");
  // A CSV whose name has a comma is still a CSV.
  Result<Dataset> d = loadDataset(writeFile("a,b.csv", "1,2\n"), false);
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_FALSE(hasTestSplit(path("a,b.csv")));
}

// ---- shuffling, batching, hold-out -------------------------------------------------

} // namespace

// ---- labels as the model's label input takes them ---------------------------

namespace {

LabelSpec targets(std::vector<int64_t> shape, int64_t featureElements) {
  LabelSpec spec;
  spec.kind = LabelSpec::Kind::Targets;
  spec.targetShape = std::move(shape);
  spec.featureElements = featureElements;
  return spec;
}

LabelSpec noLabels() {
  LabelSpec spec;
  spec.kind = LabelSpec::Kind::None;
  return spec;
}

} // namespace

TEST_F(DatasetTest, CsvRegressionTargetsAreTheLastKColumns) {
  // The worked example's target t = 1.296224 is not a class.
  Result<Dataset> one =
      readCsv(writeFile("r.csv", "0.1,0.2,1.296224\n0.3,0.4,-2.5\n"), targets({1}, 2));
  ASSERT_TRUE(one.ok()) << one.errorText();
  EXPECT_EQ(one->features.shape(), (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(one->labels.dtype(), DType::F32);
  EXPECT_EQ(one->labels.shape(), (std::vector<int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(one->labels.f32()[0], 1.296224f);
  EXPECT_FLOAT_EQ(one->labels.f32()[1], -2.5f);

  // An f32[B] label input: one target per example, shaped [N].
  Result<Dataset> flat = readCsv(writeFile("r1.csv", "0.1,0.2,1.5\n"), targets({}, 2));
  ASSERT_TRUE(flat.ok()) << flat.errorText();
  EXPECT_EQ(flat->labels.shape(), (std::vector<int64_t>{1}));

  // f32[B, 2] targets after 3 features: the last two columns.
  Result<Dataset> two = readCsv(writeFile("r2.csv", "1,2,3,0.5,0.25\n"), targets({2}, 3));
  ASSERT_TRUE(two.ok()) << two.errorText();
  EXPECT_EQ(two->labels.shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_FLOAT_EQ(two->labels.f32()[1], 0.25f);
  // The same input fed by a class column instead (one-hot later).
  Result<Dataset> cls = readCsv(writeFile("r3.csv", "1,2,3,1\n"), targets({2}, 3));
  ASSERT_TRUE(cls.ok()) << cls.errorText();
  EXPECT_EQ(cls->labels.dtype(), DType::I32);
  EXPECT_EQ(message(readCsv(writeFile("r4.csv", "1,2\n"), targets({2}, 3))),
            path("r4.csv") + ":1: 2 columns, but the model takes 3 features and 2 targets (5 "
                             "columns) or 3 features and a class label (4 columns)");
}

TEST_F(DatasetTest, FeaturesOnlyForAModelWithoutLabels) {
  Result<Dataset> csv = readCsv(writeFile("a.csv", "1,2,3\n4,5,6\n"), noLabels());
  ASSERT_TRUE(csv.ok()) << csv.errorText();
  EXPECT_EQ(csv->features.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(csv->labels.empty());
  EXPECT_EQ(csv->size(), 2);
  Dataset s = synthetic(5, {4});
  ASSERT_TRUE(writeNpy(path("x.npy"), s.features).ok());
  Result<Dataset> npy = loadDataset(path("x.npy"), false, noLabels());
  ASSERT_TRUE(npy.ok()) << npy.errorText();
  EXPECT_TRUE(npy->labels.empty());
  Result<Batcher> b = Batcher::create(*npy, {4}, 2, 1);
  ASSERT_TRUE(b.ok());
  Batch bt = b->batch(2);
  EXPECT_EQ(bt.features.dim(0), 1);
  EXPECT_TRUE(bt.labels.empty());
}

TEST_F(DatasetTest, NpyTargetsKeepTheirValuesAndTakeTheInputShape) {
  Tensor x = Tensor::f32({3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor t = Tensor::f32({3, 4}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  ASSERT_TRUE(writeNpy(path("x.npy"), x).ok());
  ASSERT_TRUE(writeNpy(path("t.npy"), t).ok());
  Result<Dataset> d = readNpyPair(path("x.npy"), path("t.npy"), targets({2, 2}, 2));
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->labels.shape(), (std::vector<int64_t>{3, 2, 2}));
  Result<Batcher> b = Batcher::create(*d, {2}, 2, 1);
  ASSERT_TRUE(b.ok());
  b->inOrder();
  Batch last = b->batch(1);
  EXPECT_EQ(last.labels.shape(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(last.labels.f32()[3], 11.0f);
  EXPECT_EQ(message(readNpyPair(path("x.npy"), path("t.npy"), targets({3}, 2))),
            path("t.npy") + ": targets must be f32 [N, ...] with 3 values per example (the "
                            "model's label input), found f32[3, 4]");
  // f32 data for an i32 class input is still refused.
  EXPECT_EQ(message(readNpyPair(path("x.npy"), path("t.npy"))),
            path("t.npy") + ": labels must be i32 (<i4), found f32[3, 4]; convert with "
                            ".astype(numpy.int32)");
}

TEST_F(DatasetTest, CsvHeaderRowAndByteOrderMark) {
  Result<Dataset> d = readCsv(writeFile("h.csv", "\xEF\xBB\xBFx1, x2 ,label\n1,2,0\n3,4,1\n"));
  ASSERT_TRUE(d.ok()) << d.errorText();
  EXPECT_EQ(d->size(), 2);
  EXPECT_EQ(d->labels.i32()[1], 1);
  // A first row with some numbers is not a header: the error says so.
  EXPECT_EQ(message(readCsv(writeFile("h2.csv", "x1,2,label\n1,2,0\n"))),
            path("h2.csv") + ":1: column 1: 'x1' is not a number (a header row must have no "
                             "numbers)");
  // A later non-numeric row is an ordinary error.
  EXPECT_EQ(message(readCsv(writeFile("h3.csv", "1,2,0\nx,y,z\n"))),
            path("h3.csv") + ":2: column 1: 'x' is not a number");
}

TEST_F(DatasetTest, IdxLabelsKnowTheirFile) {
  writeFile("train-images-idx3-ubyte", kImages);
  writeFile("train-labels-idx1-ubyte", kLabels);
  Result<Dataset> d = readIdxDirectory(dir(), false);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->labelsFrom(), path("train-labels-idx1-ubyte"));
  Result<Dataset> none = loadDataset(dir(), false, noLabels());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->labels.empty());
  EXPECT_EQ(none->size(), 3);
}

namespace {

/// text:PATH: 100 bytes, T = 4: the last 5 bytes are held out; the training
/// split's 95 bytes make 19 windows of 5, features bytes 0..3 of each and
/// labels bytes 1..4; the held-out 5 bytes make one window.
TEST_F(DatasetTest, TextWindowsAndTheHeldOutTail) {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += static_cast<char>(i < 95 ? 'a' + i % 26 : 200 + i % 50);
  writeFile("t.txt", text);
  LabelSpec spec;
  spec.featureElements = 4;
  auto train = loadDataset("text:" + path("t.txt"), false, spec);
  ASSERT_TRUE(train.ok()) << train.errorText();
  ASSERT_EQ(train->features.shape(), (std::vector<int64_t>{19, 4}));
  ASSERT_EQ(train->labels.shape(), (std::vector<int64_t>{19, 4}));
  EXPECT_EQ(train->features.dtype(), DType::I32);
  EXPECT_TRUE(train->textBytes);
  for (int64_t w = 0; w < 19; ++w)
    for (int64_t t = 0; t < 4; ++t) {
      EXPECT_EQ(train->features.i32()[w * 4 + t], 'a' + (w * 5 + t) % 26);
      EXPECT_EQ(train->labels.i32()[w * 4 + t], 'a' + (w * 5 + t + 1) % 26);
    }
  EXPECT_TRUE(hasTestSplit("text:" + path("t.txt")));
  auto test = loadDataset("text:" + path("t.txt"), true, spec);
  ASSERT_TRUE(test.ok()) << test.errorText();
  ASSERT_EQ(test->features.shape(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(test->features.i32()[0], 200 + 95 % 50); // bytes above 127 stay in [0, 256)
  EXPECT_EQ(test->labels.i32()[3], 200 + 99 % 50);
  spec.featureElements = 40;
  EXPECT_NE(message(loadDataset("text:" + path("t.txt"), true, spec)).find("hold no window"),
            std::string::npos);
}

} // namespace
