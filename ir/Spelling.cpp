/// Edit distance for "did you mean" suggestions.
#include "ir/Spelling.h"

#include <algorithm>
#include <limits>

namespace nnc {

namespace {

size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

} // namespace

std::string closestName(const std::string &word, const std::vector<std::string> &candidates) {
  std::string best;
  size_t bestDistance = std::numeric_limits<size_t>::max();
  for (const std::string &c : candidates)
    if (size_t d = editDistance(word, c); d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  size_t allowed = std::max<size_t>(2, word.size() / 3);
  return bestDistance <= allowed && bestDistance < word.size() ? best : "";
}

std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates,
                       const std::string &prefix) {
  std::string near = closestName(word, candidates);
  return near.empty() ? "" : " (did you mean '" + prefix + near + "'?)";
}

} // namespace nnc
