/// Source file registry and location formatting.
#include "nnc/SourceLoc.h"

#include <deque>
#include <mutex>

namespace nnc {

namespace {
std::mutex &registryMutex() {
  static std::mutex m;
  return m;
}
// A deque never moves its elements, so pointers handed out stay valid.
std::deque<SourceFile> &registry() {
  static std::deque<SourceFile> files;
  return files;
}
} // namespace

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {}

const SourceFile *SourceFile::add(std::string name, std::string text) {
  std::lock_guard<std::mutex> lock(registryMutex());
  registry().push_back(SourceFile(std::move(name), std::move(text)));
  return &registry().back();
}

std::string_view SourceFile::line(uint32_t line) const {
  std::string_view text = text_;
  for (uint32_t l = 1; l < line; ++l) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos)
      return {};
    text.remove_prefix(nl + 1);
  }
  size_t end = text.find('\n');
  std::string_view result = text.substr(0, end);
  if (!result.empty() && result.back() == '\r')
    result.remove_suffix(1);
  return result;
}

std::string SourceLoc::str() const {
  if (!known())
    return "<unknown>";
  std::string name = file ? file->name() : std::string("<input>");
  return name + ":" + std::to_string(line) + ":" + std::to_string(col);
}

} // namespace nnc
