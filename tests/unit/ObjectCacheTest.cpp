// The JIT's disk cache (codegen/ObjectCache.h): a second load of the same
// model is served from it, one file per compiled partition; a missing
// partition or another partition count compiles again; cached code
// computes what freshly compiled code does; the cache keeps to its size
// limit, dropping the least recently used objects; damaged, foreign and
// planted entries and unsafe folders are never used.
#include "codegen/ObjectCache.h"
#include "nnc/Host.h"
#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

namespace nnc {
namespace {

namespace fs = std::filesystem;

/// Points NNC_CACHE_DIR at a fresh directory for the test's lifetime.
class CacheDirectory {
public:
  CacheDirectory() {
    dir_ = fs::temp_directory_path() / ("nnc-cache-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    ::setenv("NNC_CACHE_DIR", dir_.c_str(), 1);
    ::unsetenv("NNC_CACHE_MAX_MB");
  }
  ~CacheDirectory() {
    ::unsetenv("NNC_CACHE_DIR");
    fs::remove_all(dir_);
  }
  std::vector<fs::path> files() const {
    std::vector<fs::path> out;
    if (fs::exists(dir_))
      for (const auto &entry : fs::directory_iterator(dir_))
        out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path path() const { return dir_; }

private:
  fs::path dir_;
};

/// Loads examples/MODEL with the cache on, compiled on `threads` threads.
CompiledModel load(int threads, const std::string &model = "xor.ir") {
  CompileOptions options;
  options.useCache = true;
  options.threads = threads;
  auto compiled = CompiledModel::load(NNC_SOURCE_DIR "/examples/" + model, options);
  EXPECT_TRUE(compiled.ok()) << compiled.errorText();
  return std::move(compiled).value();
}

/// examples/cnn.ir: large enough to compile in two partitions on two threads.
CompiledModel loadCnn(int threads) { return load(threads, "cnn.ir"); }

/// The loss of one training step of XOR from its initial state.
float firstLoss(const CompiledModel &model) {
  const float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
  const void *inputs[2] = {x, y};
  int64_t dims[1] = {4};
  auto aligned = [](uint64_t bytes) { // the ABI wants 64-byte aligned buffers
    return std::unique_ptr<void, void (*)(void *)>(std::aligned_alloc(64, (bytes + 64) / 64 * 64),
                                                   std::free);
  };
  auto state = aligned(model.stateSize()), workspace = aligned(model.workspaceSize(dims));
  EXPECT_EQ(model.init(state.get()), 0);
  float loss = -1;
  EXPECT_EQ(model.trainStep(state.get(), workspace.get(), dims, inputs, &loss), 0);
  return loss;
}

/// Partitions of a JIT compile on two threads: one per core, at most two.
size_t twoThreadParts() { return static_cast<size_t>(std::min(2, ThreadPool::defaultThreads())); }

// XOR's module is too small to split (ParallelCompile.cpp): one object
// even on two threads, read back as such.
TEST(ObjectCache, SecondLoadComesFromTheCache) {
  CacheDirectory cache;
  CompiledModel first = load(2);
  EXPECT_FALSE(first.times().fromCache);
  std::vector<fs::path> files = cache.files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string().substr(64), "-0of1.o"); // after the 64-digit key
  CompiledModel second = load(2);
  EXPECT_TRUE(second.times().fromCache);
  EXPECT_EQ(firstLoss(first), firstLoss(second));
}

TEST(ObjectCache, OneFilePerPartition) {
  CacheDirectory cache;
  EXPECT_FALSE(loadCnn(2).times().fromCache);
  std::vector<fs::path> files = cache.files();
  ASSERT_EQ(files.size(), twoThreadParts());
  for (size_t i = 0; i < files.size(); ++i)
    EXPECT_EQ(files[i].filename().string().substr(64),
              "-" + std::to_string(i) + "of" + std::to_string(files.size()) + ".o");
  EXPECT_TRUE(loadCnn(2).times().fromCache);
}

TEST(ObjectCache, AMissingPartitionOrAnotherCountCompilesAgain) {
  if (twoThreadParts() < 2)
    GTEST_SKIP() << "one core: the JIT compiles in one partition";
  CacheDirectory cache;
  loadCnn(2);
  ASSERT_EQ(cache.files().size(), 2u);
  fs::remove(cache.files()[1]);
  EXPECT_FALSE(loadCnn(2).times().fromCache);
  EXPECT_TRUE(loadCnn(2).times().fromCache);
  EXPECT_FALSE(loadCnn(1).times().fromCache); // one thread: another key
  EXPECT_EQ(cache.files().size(), 3u);
  EXPECT_TRUE(loadCnn(1).times().fromCache);
}

// An entry holds as many objects as the compiler made, up to the count asked for.
TEST(ObjectCache, AnEntryOfFewerPartsIsFound) {
  CacheDirectory cache;
  storeCachedObjects("k", {"one"});
  auto found = readCachedObjects("k", 2);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, std::vector<std::string>{"one"});
  storeCachedObjects("k", {"first", "second"});
  EXPECT_EQ(readCachedObjects("k", 2)->size(), 2u);
  EXPECT_EQ(readCachedObjects("k", 1)->size(), 1u);
  EXPECT_FALSE(readCachedObjects("other", 2).has_value());
}

/// Makes `path` look last used `seconds` ago.
void lastUsed(const fs::path &path, int seconds) {
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(seconds));
}

TEST(ObjectCache, KeepsToItsSizeLimitDroppingTheLeastRecentlyUsed) {
  CacheDirectory cache;
  // 3460 bytes: three 1000-byte objects fit, each with its 120-byte header.
  ::setenv("NNC_CACHE_MAX_MB", "0.0033", 1);
  EXPECT_EQ(objectCacheLimitBytes(), 3460u);
  const std::string object(1000, 'x');
  for (const char *key : {"a", "b", "c"})
    storeCachedObjects(key, {object});
  ASSERT_EQ(cache.files().size(), 3u);
  lastUsed(cache.path() / "a-0of1.o", 300);
  lastUsed(cache.path() / "b-0of1.o", 200);
  lastUsed(cache.path() / "c-0of1.o", 100);
  ASSERT_TRUE(readCachedObjects("a", 1).has_value()); // now the most recently used
  // 4480 bytes: the oldest go (b, then c) until at most 90% of the limit is left.
  storeCachedObjects("d", {object});
  std::vector<fs::path> left = cache.files();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].filename(), "a-0of1.o");
  EXPECT_EQ(left[1].filename(), "d-0of1.o");
  ::unsetenv("NNC_CACHE_MAX_MB");
}

TEST(ObjectCache, SizeLimitDefaultsTo512MiB) {
  ::unsetenv("NNC_CACHE_MAX_MB");
  EXPECT_EQ(objectCacheLimitBytes(), uint64_t{512} << 20);
  ::setenv("NNC_CACHE_MAX_MB", "lots", 1);
  EXPECT_EQ(objectCacheLimitBytes(), uint64_t{512} << 20);
  ::setenv("NNC_CACHE_MAX_MB", "-1", 1);
  EXPECT_EQ(objectCacheLimitBytes(), uint64_t{512} << 20);
  ::unsetenv("NNC_CACHE_MAX_MB");
}

/// The bytes of `path`.
std::string contentsOf(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void writeBytes(const fs::path &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/// Runs `body` with stderr captured; returns what it printed.
template <typename F> std::string stderrOf(F body) {
  testing::internal::CaptureStderr();
  body();
  return testing::internal::GetCapturedStderr();
}

TEST(ObjectCache, EntriesCarryTheirKeyPartAndChecksum) {
  std::string entry = encodeCacheEntry("k1", 0, 2, "object bytes");
  std::string problem;
  EXPECT_EQ(decodeCacheEntry(entry, "k1", 0, 2, problem),
            std::optional<std::string>("object bytes"));
  EXPECT_FALSE(decodeCacheEntry(entry, "k2", 0, 2, problem));
  EXPECT_EQ(problem, "it holds another model's code (its key differs)");
  EXPECT_FALSE(decodeCacheEntry(entry, "k1", 1, 2, problem));
  EXPECT_EQ(problem, "it holds another part of the entry");
  EXPECT_FALSE(decodeCacheEntry(entry.substr(0, entry.size() - 1), "k1", 0, 2, problem));
  EXPECT_EQ(problem, "it is truncated");
  std::string flipped = entry;
  flipped.back() ^= 1;
  EXPECT_FALSE(decodeCacheEntry(flipped, "k1", 0, 2, problem));
  EXPECT_EQ(problem, "its checksum does not match its bytes");
  EXPECT_FALSE(decodeCacheEntry("object bytes", "k1", 0, 2, problem));
  EXPECT_EQ(problem, "it is not a cache entry of this nnc");
}

/// Damages the one cached object of XOR with `damage`, then checks that the
/// next load warns (once a process: unless `warnedBefore`), compiles again
/// (not from the cache), computes what fresh code computes, and leaves a
/// whole entry that the load after uses.
template <typename F>
void expectRecompiledAfter(CacheDirectory &cache, F damage, bool warnedBefore = false) {
  float want = firstLoss(load(1));
  ASSERT_EQ(cache.files().size(), 1u);
  damage(cache.files()[0]);
  std::optional<CompiledModel> again;
  std::string warning = stderrOf([&] { again = load(1); });
  if (!warnedBefore) {
    EXPECT_NE(warning.find("nnc: warning: compile cache entry "), std::string::npos) << warning;
    EXPECT_NE(warning.find("removed; compiling again"), std::string::npos) << warning;
  }
  EXPECT_FALSE(again->times().fromCache);
  EXPECT_EQ(firstLoss(*again), want);
  CompiledModel third = load(1);
  EXPECT_TRUE(third.times().fromCache);
  EXPECT_EQ(firstLoss(third), want);
}

TEST(ObjectCache, ATruncatedEntryIsReplaced) {
  CacheDirectory cache;
  expectRecompiledAfter(cache, [](const fs::path &p) {
    std::string bytes = contentsOf(p);
    writeBytes(p, bytes.substr(0, bytes.size() / 2));
  });
}

TEST(ObjectCache, FlippedBytesInCodeOrDataAreCaught) {
  CacheDirectory cache;
  for (double where : {0.3, 0.6, 0.9}) // anywhere in the object: code, tables, symbols
    expectRecompiledAfter(
        cache,
        [where](const fs::path &p) {
          std::string bytes = contentsOf(p);
          bytes[static_cast<size_t>(where * static_cast<double>(bytes.size()))] ^= 0x5a;
          writeBytes(p, bytes);
        },
        where > 0.3);
}

TEST(ObjectCache, AnotherModelsObjectUnderThisKeyIsNotUsed) {
  CacheDirectory cache;
  load(1, "mcculloch_pitts.ir");
  ASSERT_EQ(cache.files().size(), 1u);
  fs::path foreign = cache.files()[0];
  std::string foreignBytes = contentsOf(foreign);
  fs::remove(foreign);
  expectRecompiledAfter(cache, [&](const fs::path &p) { writeBytes(p, foreignBytes); });
}

TEST(ObjectCache, FoldersAndEntriesArePrivate) {
  CacheDirectory cache;
  ::setenv("NNC_CACHE_DIR", (cache.path() / "a" / "b").c_str(), 1);
  load(1);
  for (fs::path p : {cache.path() / "a", cache.path() / "a" / "b"}) {
    struct stat st = {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << p;
  }
  for (const auto &entry : fs::directory_iterator(cache.path() / "a" / "b")) {
    struct stat st = {};
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << entry.path();
  }
}

/// Loads XOR with the cache in `dir`, expecting a warning that names the
/// folder and `reason`, fresh code, and the right numbers.
void expectFolderRefused(const fs::path &dir, const std::string &reason) {
  ::setenv("NNC_CACHE_DIR", dir.c_str(), 1);
  CompileOptions fresh;
  float want =
      firstLoss(std::move(CompiledModel::load(NNC_SOURCE_DIR "/examples/xor.ir", fresh)).value());
  std::optional<CompiledModel> model;
  std::string warning = stderrOf([&] { model = load(1); });
  EXPECT_NE(warning.find("not using the compile cache " + dir.string() + ": " + reason),
            std::string::npos)
      << warning;
  EXPECT_FALSE(model->times().fromCache);
  EXPECT_EQ(firstLoss(*model), want);
}

TEST(ObjectCache, AWorldWritableFolderIsNotUsedNorItsPlantedObject) {
  CacheDirectory cache;
  fs::path open = cache.path() / "open";
  ::setenv("NNC_CACHE_DIR", open.c_str(), 1);
  load(1); // a genuine entry, then the folder is opened to everyone
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  // Another user plants the code of another model under XOR's key.
  fs::path entry = fs::directory_iterator(open)->path();
  ::setenv("NNC_CACHE_DIR", (cache.path() / "other").c_str(), 1);
  load(1, "mcculloch_pitts.ir");
  fs::copy_file(fs::directory_iterator(cache.path() / "other")->path(), entry,
                fs::copy_options::overwrite_existing);
  expectFolderRefused(open, "it is writable by others (mode 0777; chmod 700 it)");
}

TEST(ObjectCache, AFolderOfAnotherUserIsNotUsed) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to give a folder to another user";
  CacheDirectory cache;
  fs::path theirs = cache.path() / "theirs";
  fs::create_directories(theirs);
  ASSERT_EQ(::chmod(theirs.c_str(), 0700), 0);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  expectFolderRefused(theirs, "it belongs to another user (uid 65534, not 0)");
}

TEST(ObjectCache, ASymlinkedFolderIsNotUsed) {
  CacheDirectory cache;
  fs::path real = cache.path() / "real", link = cache.path() / "link";
  fs::create_directories(real);
  fs::create_directory_symlink(real, link);
  expectFolderRefused(link, "it is a symlink");
  EXPECT_TRUE(fs::is_empty(real));
}

TEST(ObjectCache, ASymlinkedEntryIsNotFollowed) {
  CacheDirectory cache;
  load(1);
  fs::path entry = cache.files()[0];
  fs::path elsewhere = cache.path().string() + "-elsewhere";
  fs::copy_file(entry, elsewhere, fs::copy_options::overwrite_existing);
  fs::remove(entry);
  fs::create_symlink(elsewhere, entry);
  std::optional<CompiledModel> model;
  std::string warning = stderrOf([&] { model = load(1); });
  EXPECT_NE(warning.find("(it is a symlink)"), std::string::npos) << warning;
  EXPECT_FALSE(model->times().fromCache);
  fs::remove(elsewhere);
}

TEST(ObjectCache, TempFilesOfDeadProcessesCountAndAreRemoved) {
  CacheDirectory cache;
  storeCachedObjects("a", {"x"});
  // A process that died during a store: pid 2^22 + 1 is above Linux's maximum.
  fs::path dead = cache.path() / "a-0of1.o.tmp.4194305.0";
  writeBytes(dead, std::string(5000, 'x'));
  fs::path live = cache.path() / ("b-0of1.o.tmp." + std::to_string(::getpid() == 1 ? 2 : 1) + ".0");
  writeBytes(live, "y"); // pid 1 (or 2) runs
  ::setenv("NNC_CACHE_MAX_MB", "0.001", 1);
  storeCachedObjects("c", {"z"});
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  ::unsetenv("NNC_CACHE_MAX_MB");
}

} // namespace
} // namespace nnc
