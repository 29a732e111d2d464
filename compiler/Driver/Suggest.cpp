//===- Suggest.cpp - "did you mean" for the iterc command line ------------===//
//
// This file implements the typo hints of Exit.h: a misspelt command or
// option is answered with the closest known one, as the generated
// executables already do.
//
//===----------------------------------------------------------------------===//
#include "Basic/Diagnostic.h"
#include "Driver/Exit.h"

using namespace iterc;

std::string
iterc::driver::didYouMean(std::string_view word,
                          const std::vector<std::string_view> &known) {
  std::string hint = closestMatch(word, known);
  return hint.empty() ? "" : "; did you mean '" + hint + "'?";
}

std::string
iterc::driver::unknownOption(const std::string &arg,
                             const std::vector<std::string_view> &options) {
  // "--formt=json" is compared by its name, "--formt".
  std::string_view name(arg);
  if (size_t eq = name.find('='); eq != std::string_view::npos)
    name = name.substr(0, eq);
  return "unknown option '" + arg + "'" + didYouMean(name, options);
}
