//===- DocsTest.cpp - The documentation's examples are what iterc does ---===//
//
// Every fenced block of README.md, bench/README.md and docs/*.md is either
// run or explicitly marked as not run (the rules are in DocFences.h): a new
// block without a mark fails here. This file checks the rules and the
// ```iter blocks (each a complete file that checks as its fence says), and
// that every repository file the docs name exists; DocCommandsTest runs the
// ```sh and ```console blocks.
//
//===----------------------------------------------------------------------===//
#include "DocFences.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

TEST_CASE("docs: the fence extractor reads info strings and nested fences",
          "[docs]") {
  std::vector<DocFence> f =
      docFences("x.md", "a\n```iter\nx\n```\n```sh no-run\ny\n```\n"
                        "````markdown\n```iter\nz\n```\n````\n"
                        "```sh exit=2\nw\nv\n```\n");
  REQUIRE(f.size() == 4);
  CHECK(f[0].line == 2);
  CHECK(f[0].lang == "iter");
  CHECK(f[0].text == "x\n");
  CHECK(f[1].noRun());
  CHECK(f[2].lang == "markdown");
  CHECK(f[2].text == "```iter\nz\n```\n");
  CHECK(f[3].attrs.at("exit") == "2");
  CHECK(f[3].text == "w\nv\n");
}

TEST_CASE("docs: the fence rules refuse an unmarked block", "[docs]") {
  auto problem = [](const std::string &markdown) {
    return fenceProblem(docFences("x.md", markdown).at(0));
  };
  CHECK(problem("```\n$ iterc check wf.iter\n```\n") != "");
  CHECK(problem("```bash\nls\n```\n") != "");
  CHECK(problem("```text\n$ iterc check wf.iter\n```\n") != "");
  CHECK(problem("```sh quick\nls\n```\n") != "");
  CHECK(problem("```console exit=1\n$ ls\n```\n") != "");
  CHECK(problem("```text\noutput\n```\n") == "");
  CHECK(problem("```console no-run\n$ curl https://x\n```\n") == "");
  CHECK(problem("```sh exit=2\nfalse\n```\n") == "");
  CHECK(problem("```iter check-fails=C023\nx\n```\n") == "");
  CHECK(problem("```iter file=retry.iter\nx\n```\n") == "");
  CHECK(problem("```iter file=../x.iter\nx\n```\n") != "");
  CHECK(problem("```sh file=x.iter\nx\n```\n") != "");
}

TEST_CASE("docs: every fenced block of the docs is run or marked", "[docs]") {
  size_t count = 0;
  for (const std::string &file : docFiles()) {
    std::string text = readRepoFile(file);
    REQUIRE_FALSE(text.empty());
    for (const DocFence &f : docFences(file, text)) {
      ++count;
      INFO("fence at " << f.where() << ":\n" << f.text);
      CHECK(fenceProblem(f) == "");
    }
  }
  CHECK(count > 50);
}

TEST_CASE("docs: every ```iter block checks as its fence says", "[docs]") {
  size_t checked = 0;
  for (const std::string &file : docFiles()) {
    for (const DocFence &f : docFences(file, readRepoFile(file))) {
      if (f.lang != "iter" || f.noRun())
        continue;
      ++checked;
      CheckResult r = checkSource(f.text, f.where() + ".iter");
      INFO("```iter block at " << f.where() << ":\n"
                               << f.text << "\n"
                               << r.render());
      auto fails = f.attrs.find("check-fails");
      if (fails == f.attrs.end())
        CHECK(r.codes(Severity::Error).empty());
      else
        CHECK(r.hasCode(fails->second));
    }
  }
  CHECK(checked >= 20);
}

TEST_CASE("docs: every repository file the docs name exists", "[docs]") {
  // Relative links, and names in backticks that start with a directory of
  // the repository or are an upper-case *.md file (README.md). Names with a
  // placeholder (<x>, *, CODE, NAME, ...) are patterns, not files.
  static const std::regex link(R"re(\]\(([^)\s]+)\))re");
  static const std::regex ticked("`([^`\\s]+)`");
  static const std::regex placeholder(
      R"re([<>*{}$]|\.\.\.|CODE|NAME|/[A-Z][A-Za-z]*[./])re");
  static const std::regex topMd(R"re(^[A-Z][A-Z_]*\.md$)re");
  const char *tops[] = {"docs/",   "examples/",    "scripts/",
                        "tests/",  "runtime-lib/", "compiler/",
                        "bench/",  "grammar/",     "templates/"};
  const fs::path root = ITERC_SOURCE_DIR;
  for (const std::string &file : docFiles()) {
    // Names inside fences are examples of commands and outputs.
    std::string prose;
    std::istringstream in(readRepoFile(file));
    std::string line;
    size_t open = 0;
    while (std::getline(in, line)) {
      size_t ticks = line.find_first_not_of('`');
      ticks = ticks == std::string::npos ? line.size() : ticks;
      if (ticks >= 3 && (open == 0 || ticks >= open)) {
        open = open == 0 ? ticks : 0;
        continue;
      }
      if (open == 0)
        prose += line + "\n";
    }
    const fs::path dir = (root / file).parent_path();
    auto exists = [&](const std::string &name) {
      return fs::exists(dir / name) || fs::exists(root / name);
    };
    for (auto it = std::sregex_iterator(prose.begin(), prose.end(), link);
         it != std::sregex_iterator(); ++it) {
      std::string target = (*it)[1].str();
      target = target.substr(0, target.find('#'));
      if (target.empty() || target.find("://") != std::string::npos)
        continue;
      INFO(file << " links to " << target);
      CHECK(fs::exists(dir / target));
    }
    for (auto it = std::sregex_iterator(prose.begin(), prose.end(), ticked);
         it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[1].str();
      if (std::regex_search(name, placeholder))
        continue;
      bool inRepo = std::regex_match(name, topMd);
      for (const char *top : tops)
        inRepo = inRepo || name.rfind(top, 0) == 0;
      if (!inRepo)
        continue;
      INFO(file << " names `" << name << "`");
      CHECK(exists(name));
    }
  }
}

TEST_CASE("docs: every event type the engine records is documented",
          "[docs]") {
  // emit(st, branch, "type", ...) and emit(st, branch, c ? "a" : "b", ...).
  static const std::regex emitCall(
      R"re(emit\(st,\s*[^,]+,\s*(?:[^,]*\?\s*"([a-z_]+)"\s*:\s*)?"([a-z_]+)")re");
  const std::string engine = readRepoFile("runtime-lib/src/Engine.cpp");
  const std::string docs = readRepoFile("docs/executable.md");
  std::set<std::string> types;
  for (auto it = std::sregex_iterator(engine.begin(), engine.end(), emitCall);
       it != std::sregex_iterator(); ++it)
    for (size_t group : {1, 2})
      if ((*it)[group].matched)
        types.insert((*it)[group].str());
  CHECK(types.size() >= 20);
  for (const std::string &type : types) {
    INFO("event type " << type
                       << " has no row in docs/executable.md's event table");
    CHECK((docs.find("| `" + type + "` |") != std::string::npos ||
           docs.find("| `" + type + "`, ") != std::string::npos ||
           docs.find(", `" + type + "` |") != std::string::npos));
  }
}
