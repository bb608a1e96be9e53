/// "Did you mean ...?": the known name closest to a misspelled one, for
/// messages about unknown ops, attributes, options and commands.
#pragma once

#include <string>
#include <vector>

namespace nnc {

/// The candidate closest to `word` by edit distance (Levenshtein), if it is
/// close enough to be a likely typo (at most max(2, |word| / 3) edits, and
/// fewer than |word|); else "".
std::string closestName(const std::string &word, const std::vector<std::string> &candidates);

/// " (did you mean 'NAME'?)" for closestName(), or "" when none is close.
std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates,
                       const std::string &prefix = "");

} // namespace nnc
