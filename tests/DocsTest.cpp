//===- DocsTest.cpp - Every ```iter block of the documentation checks -----===//
//
// docs/language.md and README.md show the language in ```iter fenced
// blocks; each one is a complete file that must check with no errors.
// Fragments are written in ```text blocks instead.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;

namespace {

struct Fence {
  unsigned line;  ///< 1-based line of the opening fence.
  std::string text;
};

/// The bodies of every fence whose info string is exactly `iter`.
std::vector<Fence> iterFences(const std::string &markdown) {
  std::vector<Fence> fences;
  for (const MarkdownFence &f : markdownFences(markdown))
    if (f.info == "iter")
      fences.push_back(Fence{f.line, f.text});
  return fences;
}

void checkFences(const std::string &file, size_t atLeast) {
  std::string text = readRepoFile(file);
  REQUIRE_FALSE(text.empty());
  std::vector<Fence> fences = iterFences(text);
  CHECK(fences.size() >= atLeast);
  for (const Fence &f : fences) {
    std::string name = file + ":" + std::to_string(f.line) + ".iter";
    CheckResult r = checkSource(f.text, name);
    INFO("```iter block at " << file << " line " << f.line << ":\n"
                             << f.text << "\n"
                             << r.render());
    CHECK(r.codes(Severity::Error).empty());
  }
}

} // namespace

TEST_CASE("the fence extractor finds only ```iter blocks", "[docs]") {
  std::vector<Fence> f =
      iterFences("a\n```iter\nx\n```\n```text\ny\n```\n```\nz\n```\n"
                 "```iter\nw\nv\n```\n");
  REQUIRE(f.size() == 2);
  CHECK(f[0].line == 2);
  CHECK(f[0].text == "x\n");
  CHECK(f[1].text == "w\nv\n");
}

TEST_CASE("every ```iter block of docs/language.md checks", "[docs]") {
  checkFences("docs/language.md", 10);
}

TEST_CASE("every ```iter block of README.md checks", "[docs]") {
  checkFences("README.md", 0);
}
