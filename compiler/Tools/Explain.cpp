//===- Explain.cpp - Long explanations of diagnostic codes ----------------===//
//
// This file implements the lookup over the table that the build generates
// from docs/diagnostics/*.md (see scripts/cmake/EmbedDocs.cmake).
//
//===----------------------------------------------------------------------===//
#include "Tools/Explain.h"

using namespace iterc;

namespace {
struct Entry {
  const char *code;
  const char *text;
};
const Entry entries[] = {
#include "DiagnosticDocs.inc"
    {nullptr, nullptr}};
} // namespace

const char *iterc::findExplanation(std::string_view code) {
  for (const Entry *e = entries; e->code; ++e)
    if (code == e->code)
      return e->text;
  return nullptr;
}

std::string iterc::explanationTitle(std::string_view code) {
  const char *text = findExplanation(code);
  if (!text)
    return "";
  std::string_view heading(text);
  heading = heading.substr(0, heading.find('\n'));
  std::string prefix = "# " + std::string(code) + ":";
  if (heading.substr(0, prefix.size()) != prefix)
    return "";
  heading.remove_prefix(prefix.size());
  while (!heading.empty() && heading.front() == ' ')
    heading.remove_prefix(1);
  return std::string(heading);
}

std::vector<std::string> iterc::explainedCodes() {
  std::vector<std::string> codes;
  for (const Entry *e = entries; e->code; ++e)
    codes.push_back(e->code);
  return codes;
}
