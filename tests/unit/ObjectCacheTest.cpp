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

/// Loads examples/xor.ir with the cache on, compiled on `threads` threads.
CompiledModel load(int threads) {
  CompileOptions options;
  options.useCache = true;
  options.threads = threads;
  auto model = CompiledModel::load(NNC_SOURCE_DIR "/examples/xor.ir", options);
  EXPECT_TRUE(model.ok()) << model.errorText();
  return std::move(model).value();
}

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

TEST(ObjectCache, SecondLoadComesFromTheCacheOneFilePerPartition) {
  CacheDirectory cache;
  CompiledModel first = load(2);
  EXPECT_FALSE(first.times().fromCache);
  std::vector<fs::path> files = cache.files();
  ASSERT_EQ(files.size(), twoThreadParts());
  for (size_t i = 0; i < files.size(); ++i) {
    std::string name = files[i].filename().string();
    EXPECT_EQ(name.substr(name.size() - 4), "-" + std::to_string(i) + ".o");
  }
  CompiledModel second = load(2);
  EXPECT_TRUE(second.times().fromCache);
  EXPECT_EQ(firstLoss(first), firstLoss(second));
}

TEST(ObjectCache, AMissingPartitionOrAnotherCountCompilesAgain) {
  if (twoThreadParts() < 2)
    GTEST_SKIP() << "one core: the JIT compiles in one partition";
  CacheDirectory cache;
  load(2);
  ASSERT_EQ(cache.files().size(), 2u);
  fs::remove(cache.files()[1]);
  EXPECT_FALSE(load(2).times().fromCache);
  EXPECT_TRUE(load(2).times().fromCache);
  EXPECT_FALSE(load(1).times().fromCache); // one partition: another key
  EXPECT_EQ(cache.files().size(), 3u);
  EXPECT_TRUE(load(1).times().fromCache);
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
  lastUsed(cache.path() / "a-0.o", 300);
  lastUsed(cache.path() / "b-0.o", 200);
  lastUsed(cache.path() / "c-0.o", 100);
  ASSERT_TRUE(readCachedObjects("a", 1).has_value()); // now the most recently used
  // 4000 bytes: the oldest go (b, then c) until at most 90% of the limit is left.
  storeCachedObjects("d", {object});
  std::vector<fs::path> left = cache.files();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].filename(), "a-0.o");
  EXPECT_EQ(left[1].filename(), "d-0.o");
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
