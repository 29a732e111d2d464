//===- Explain.h - Long explanations of diagnostic codes --------*- C++ -*-===//
//
// This file declares the lookup behind `iterc explain CODE`. The texts live
// in docs/diagnostics/<CODE>.md and are embedded at build time, so the
// documentation and the compiler cannot drift apart.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TOOLS_EXPLAIN_H
#define ITERC_TOOLS_EXPLAIN_H

#include <string>
#include <string_view>
#include <vector>

namespace iterc {

/// The Markdown explanation of `code` (e.g. "C019"), or null.
const char *findExplanation(std::string_view code);

/// Every code that has an explanation, sorted.
std::vector<std::string> explainedCodes();

/// The title of `code`'s explanation (its heading "# CODE: title"), or "".
std::string explanationTitle(std::string_view code);

} // namespace iterc

#endif // ITERC_TOOLS_EXPLAIN_H
