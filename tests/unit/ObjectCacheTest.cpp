// The JIT's disk cache (codegen/ObjectCache.h): a second load of the same
// model is served from it, one file per compiled partition; a missing
// partition or another partition count compiles again; cached code
// computes what freshly compiled code does; the cache keeps to its size
// limit, dropping the least recently used objects.
#include "codegen/ObjectCache.h"
#include "nnc/Host.h"
#include "runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <unistd.h>

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
  ::setenv("NNC_CACHE_MAX_MB", "0.003", 1); // 3145 bytes: three 1000-byte objects fit
  EXPECT_EQ(objectCacheLimitBytes(), 3145u);
  const std::string object(1000, 'x');
  for (const char *key : {"a", "b", "c"})
    storeCachedObjects(key, {object});
  ASSERT_EQ(cache.files().size(), 3u);
  lastUsed(cache.path() / "a-0of1.o", 300);
  lastUsed(cache.path() / "b-0of1.o", 200);
  lastUsed(cache.path() / "c-0of1.o", 100);
  ASSERT_TRUE(readCachedObjects("a", 1).has_value()); // now the most recently used
  // 4000 bytes: the oldest go (b, then c) until at most 90% of the limit is left.
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

} // namespace
} // namespace nnc
