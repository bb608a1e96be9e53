/// `--data text:PATH`: a byte-level language-model data set (Dataset.h).
#include "runtime/io/AtomicFile.h"
#include "runtime/io/Dataset.h"

#include <algorithm>
#include <filesystem>

namespace nnc {

namespace fs = std::filesystem;

namespace {

/// More text than this is refused (the windows take 8 bytes per byte).
constexpr uint64_t kMaxTextBytes = uint64_t(1) << 30;

/// The files of a text folder: its regular files (not symlinks: fortune's
/// `.u8` names link to the files themselves) without a `.dat` extension
/// (fortune's indexes), by name.
Result<std::vector<std::string>> folderFiles(const std::string &dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_symlink(ec) || !it->is_regular_file(ec) || it->path().extension() == ".dat")
      continue;
    files.push_back(it->path().string());
  }
  if (ec)
    return Result<std::vector<std::string>>::fail("{}: cannot list the folder: {}", dir,
                                                  ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    return Result<std::vector<std::string>>::fail("{}: the folder has no text files", dir);
  return files;
}

/// The bytes of a file, or of a folder's text files one after another.
Result<std::string> readText(const std::string &path) {
  std::error_code ec;
  std::vector<std::string> files = {path};
  if (fs::is_directory(path, ec)) {
    auto listed = folderFiles(path);
    if (!listed)
      return listed.takeDiags();
    files = std::move(listed).value();
  }
  std::string text;
  for (const std::string &file : files) {
    auto bytes = readWholeFile(file, kMaxTextBytes);
    if (!bytes)
      return bytes.takeDiags();
    if (text.size() + bytes->size() > kMaxTextBytes)
      return Result<std::string>::fail("{}: more than {} bytes of text", path, kMaxTextBytes);
    text += *bytes;
  }
  return text;
}

} // namespace

Result<Dataset> readTextWindows(const std::string &path, int64_t context, bool test) {
  using R = Result<Dataset>;
  if (context <= 0)
    return R::fail("text:{}: the model's features input must be i32[B, T] with a static T", path);
  auto text = readText(path);
  if (!text)
    return text.takeDiags();
  auto size = static_cast<int64_t>(text->size());
  int64_t heldOut = size / 20, begin = test ? size - heldOut : 0,
          end = test ? size : size - heldOut;
  int64_t window = context + 1, windows = (end - begin) / window;
  if (windows == 0)
    return R::fail("text:{}: {} {} bytes hold no window of T + 1 = {} bytes (the last 5% of the "
                   "text is held out for testing)",
                   path, test ? "the held-out" : "the training", end - begin, window);
  Tensor features(DType::I32, {windows, context}), labels(DType::I32, {windows, context});
  const auto *bytes = reinterpret_cast<const unsigned char *>(text->data()) + begin;
  for (int64_t w = 0; w < windows; ++w)
    for (int64_t t = 0; t < context; ++t) {
      features.i32()[w * context + t] = bytes[w * window + t];
      labels.i32()[w * context + t] = bytes[w * window + t + 1];
    }
  Dataset d{std::move(features), std::move(labels), "text:" + path, /*imagePixels=*/false, ""};
  d.textBytes = true;
  return d;
}

} // namespace nnc
