//===- FormatterTest.cpp - iterc fmt: layout, comments, idempotence -------===//
//
// Golden tests (tests/golden/fmt/<case>/{input,expected}.iter; set
// ITERC_UPDATE_GOLDEN=1 to rewrite the expected files), idempotence and
// meaning preservation over every example, conformance file and golden
// input, targeted layout rules, and the `fmt` command line.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"
#include "Tools/Formatter.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

/// Formats `text`; `ok` tells whether it parsed without errors.
std::string formatText(const std::string &text, bool *ok = nullptr) {
  CheckResult result = checkSource(text, "test.iter", /*runSema=*/false);
  if (ok)
    *ok = result.ast && result.codes().empty();
  if (!result.ast)
    return std::string();
  return formatFile(*result.ast, *result.sources);
}



fs::path goldenDir() {
  return fs::path(ITERC_SOURCE_DIR) / "tests" / "golden" / "fmt";
}

std::vector<fs::path> goldenCases() {
  std::vector<fs::path> cases;
  for (const fs::directory_entry &entry : fs::directory_iterator(goldenDir()))
    if (entry.is_directory() && fs::exists(entry.path() / "input.iter"))
      cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  return cases;
}

/// Every file the whole-corpus tests run on.
std::vector<fs::path> corpus() {
  std::vector<fs::path> files;
  auto addDir = [&](const fs::path &dir) {
    if (!fs::is_directory(dir))
      return;
    std::vector<fs::path> found;
    for (const fs::directory_entry &entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".iter")
        found.push_back(entry.path());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  };
  fs::path root(ITERC_SOURCE_DIR);
  addDir(root / "examples");
  addDir(root / ".." / "shared" / "conformance" / "iterion");
  for (const fs::path &c : goldenCases())
    files.push_back(c / "input.iter");
  return files;
}

size_t countComments(const std::string &text) {
  CheckResult result = checkSource(text, "test.iter", /*runSema=*/false);
  return result.ast ? result.ast->comments.size() : 0;
}

std::vector<std::string> withKeys(const ir::Edge &edge) {
  std::vector<std::string> keys;
  for (const ir::WithEntry &w : edge.with)
    keys.push_back(w.key + "=" + w.value.source);
  return keys;
}

/// Checks that `before` and `after` mean the same thing.
void checkSameMeaning(const std::string &before, const std::string &after) {
  CheckResult a = checkSource(before);
  CheckResult b = checkSource(after);
  CHECK(a.allCodes() == b.allCodes());
  REQUIRE(bool(a.module) == bool(b.module));
  if (!a.module)
    return;
  const ir::Module &ma = *a.module, &mb = *b.module;
  CHECK(ma.schemas.size() == mb.schemas.size());
  CHECK(ma.vars.size() == mb.vars.size());
  REQUIRE(ma.prompts.size() == mb.prompts.size());
  for (size_t i = 0; i < ma.prompts.size(); ++i) {
    CHECK(ma.prompts[i].name == mb.prompts[i].name);
    CHECK(ma.prompts[i].body.source == mb.prompts[i].body.source);
  }
  const ir::Workflow &wa = ma.workflow, &wb = mb.workflow;
  CHECK(wa.name == wb.name);
  REQUIRE(wa.nodes.size() == wb.nodes.size());
  for (size_t i = 0; i < wa.nodes.size(); ++i)
    CHECK(wa.nodes[i].name == wb.nodes[i].name);
  CHECK(wa.loops.size() == wb.loops.size());
  for (size_t i = 0; i < std::min(wa.loops.size(), wb.loops.size()); ++i) {
    CHECK(wa.loops[i].name == wb.loops[i].name);
    CHECK(wa.loops[i].cap == wb.loops[i].cap);
    CHECK(wa.loops[i].capTemplate.source == wb.loops[i].capTemplate.source);
  }
  REQUIRE(wa.edges.size() == wb.edges.size());
  for (size_t i = 0; i < wa.edges.size(); ++i) {
    const ir::Edge &ea = wa.edges[i], &eb = wb.edges[i];
    CHECK(ea.from == eb.from);
    CHECK(ea.to == eb.to);
    CHECK(ea.cond == eb.cond);
    CHECK(ea.field == eb.field);
    CHECK(ea.negated == eb.negated);
    CHECK(ea.exprText == eb.exprText);
    CHECK(ea.loop == eb.loop);
    CHECK(withKeys(ea) == withKeys(eb));
  }
}

int runShell(const std::string &command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

//===----------------------------------------------------------------------===//
// Golden files
//===----------------------------------------------------------------------===//

TEST_CASE("fmt golden files", "[fmt]") {
  std::vector<fs::path> cases = goldenCases();
  REQUIRE(cases.size() >= 6);
  const char *update = std::getenv("ITERC_UPDATE_GOLDEN");
  bool updating = update && std::string(update) == "1";
  for (const fs::path &dir : cases) {
    INFO("golden case " << dir.filename().string());
    bool ok = false;
    std::string actual = formatText(readFile(dir / "input.iter"), &ok);
    REQUIRE(ok);
    fs::path expectedPath = dir / "expected.iter";
    fs::path actualPath = dir / "expected.iter.actual";
    if (updating) {
      writeFile(expectedPath, actual);
      fs::remove(actualPath);
      continue;
    }
    std::string expected = readFile(expectedPath);
    if (actual != expected) {
      writeFile(actualPath, actual);
      FAIL("formatted text differs from expected.iter; see "
           << actualPath.string());
    } else {
      fs::remove(actualPath);
    }
    // The expected output is itself canonical.
    CHECK(formatText(expected) == expected);
  }
}

//===----------------------------------------------------------------------===//
// Whole corpus
//===----------------------------------------------------------------------===//

TEST_CASE("fmt is idempotent on every example and golden input", "[fmt]") {
  std::vector<fs::path> files = corpus();
  REQUIRE(!files.empty());
  for (const fs::path &path : files) {
    INFO("file " << path.string());
    std::string source = readFile(path);
    bool ok = false;
    std::string once = formatText(source, &ok);
    REQUIRE(ok);
    bool okAgain = false;
    std::string twice = formatText(once, &okAgain);
    CHECK(okAgain);
    CHECK(twice == once);
    CHECK(countComments(once) == countComments(source));
    REQUIRE(!once.empty());
    CHECK(once.back() == '\n');
    CHECK(once.compare(once.size() - std::min<size_t>(2, once.size()), 2,
                       "\n\n") != 0);
  }
}

TEST_CASE("fmt never changes what a file means", "[fmt]") {
  for (const fs::path &path : corpus()) {
    INFO("file " << path.string());
    std::string source = readFile(path);
    checkSameMeaning(source, formatText(source));
  }
}

//===----------------------------------------------------------------------===//
// Layout rules
//===----------------------------------------------------------------------===//

TEST_CASE("fmt normalises indentation, spacing and blank lines", "[fmt]") {
  std::string in = "schema out:\n"
                   "    ok:bool\n"
                   "\n\n\n"
                   "agent a:\n"
                   "    model:   \"m\"\n"
                   "    output: out\n"
                   "workflow w:\n"
                   "    entry: a\n"
                   "\n\n"
                   "    a -> done when ok\n"
                   "    a -> fail when not ok\n"
                   "\n";
  std::string expected = "schema out:\n"
                         "  ok: bool\n"
                         "\n"
                         "agent a:\n"
                         "  model: \"m\"\n"
                         "  output: out\n"
                         "\n"
                         "workflow w:\n"
                         "  entry: a\n"
                         "\n"
                         "  a -> done when ok\n"
                         "  a -> fail when not ok\n";
  CHECK(formatText(in) == expected);
}

TEST_CASE("fmt puts one with entry inline up to 80 columns", "[fmt]") {
  std::string shortEdge = "  a -> b with { k: \"v\" }\n";
  std::string decls = "agent a:\n  model: \"m\"\n\nagent b:\n  model: \"m\"\n"
                      "\nworkflow w:\n  entry: a\n";
  CHECK(formatText(decls + "  a -> b with {\n  k: \"v\"\n}\n") ==
        decls + shortEdge);
  // 80 columns exactly stay inline; 81 do not.
  std::string key(80 - std::string("  a -> b with { : \"\" }").size(), 'k');
  std::string fits = "  a -> b with { " + key + ": \"\" }\n";
  REQUIRE(fits.size() == 81);
  CHECK(formatText(decls + fits) == decls + fits);
  std::string tooLong = "  a -> b with { " + key + "x: \"\" }\n";
  CHECK(formatText(decls + tooLong) ==
        decls + "  a -> b with {\n    " + key + "x: \"\"\n  }\n");
  CHECK(formatText(decls + "  a -> b with { x: \"1\" y: \"2\" }\n") ==
        decls + "  a -> b with {\n    x: \"1\",\n    y: \"2\"\n  }\n");
}

TEST_CASE("fmt orders edge clauses when, as, with", "[fmt]") {
  std::string decls = "agent a:\n  model: \"m\"\n\nworkflow w:\n  entry: a\n";
  CHECK(formatText(decls +
                   "  a -> a with { x: \"1\" } as l(3) when not ok\n") ==
        decls + "  a -> a when not ok as l(3) with { x: \"1\" }\n");
  CHECK(formatText(decls + "  a -> a as l(`{{vars.n}}`) when \"x > 1\"\n") ==
        decls + "  a -> a when \"x > 1\" as l(`{{vars.n}}`)\n");
}

TEST_CASE("fmt re-escapes strings in strict mode only", "[fmt]") {
  std::string strict = "## strict-escape: on\n\nagent a:\n"
                       "  model: \"a\\\"b\\\\c\\nd\\te\\rf\\0g\"\n";
  CHECK(formatText(strict) == strict);
  std::string legacy = "agent a:\n  model: \"a\\\"b\\\\c\\nd\\q\"\n";
  CHECK(formatText(legacy) == legacy);
  CheckResult r = checkSource(formatText(strict), "t.iter", false);
  REQUIRE(r.ast);
  REQUIRE(r.ast->decls.size() == 1);
  const auto &node = static_cast<const ast::NodeDecl &>(*r.ast->decls[0]);
  CHECK(node.properties[0].value.text ==
        std::string("a\"b\\c\nd\te\rf\0g", 13));
}

TEST_CASE("fmt keeps prompt bodies and block scalars verbatim", "[fmt]") {
  std::string in = "prompt p:\n"
                   "      line one ## not a comment\n"
                   "        deeper\n"
                   "\n"
                   "      {{input.x}}\n"
                   "tool t:\n"
                   "    script: |  ## a comment\n"
                   "          echo a\n"
                   "            echo b\n";
  std::string expected = "prompt p:\n"
                         "  line one ## not a comment\n"
                         "    deeper\n"
                         "\n"
                         "  {{input.x}}\n"
                         "\n"
                         "tool t:\n"
                         "  script: |  ## a comment\n"
                         "    echo a\n"
                         "      echo b\n";
  CHECK(formatText(in) == expected);
  CHECK(countComments(expected) == 1);
}

TEST_CASE("fmt keeps every comment exactly once", "[fmt]") {
  std::string in = "## top\n"
                   "agent a: ## after header\n"
                   "  ## before model\n"
                   "  model: \"m\"   ## after model\n"
                   "  ## end of a\n"
                   "## before workflow\n"
                   "workflow w:\n"
                   "  entry: a\n"
                   "  a -> done with { ## inside\n"
                   "    x: \"1\" }\n"
                   "## the end\n";
  std::string expected = "## top\n"
                         "agent a:  ## after header\n"
                         "  ## before model\n"
                         "  model: \"m\"  ## after model\n"
                         "\n"
                         "## end of a\n"
                         "## before workflow\n"
                         "workflow w:\n"
                         "  entry: a\n"
                         "  a -> done with {  ## inside\n"
                         "    x: \"1\"\n"
                         "  }\n"
                         "## the end\n";
  std::string out = formatText(in);
  CHECK(out == expected);
  CHECK(formatText(out) == out);
}

TEST_CASE("fmt output of a comment-only or empty file", "[fmt]") {
  CHECK(formatText("") == "");
  CHECK(formatText("## only\n\n\n## comments   \n") ==
        "## only\n\n## comments\n");
}

//===----------------------------------------------------------------------===//
// The command line
//===----------------------------------------------------------------------===//

TEST_CASE("iterc fmt --check and -i", "[fmt][driver]") {
  fs::path dir = fs::temp_directory_path() /
                 ("iterc-fmt-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path messy = dir / "messy.iter";
  fs::path clean = dir / "clean.iter";
  std::string canonical = "agent a:\n  model: \"m\"\n";
  writeFile(messy, "agent a:\n    model:    \"m\"\n\n");
  writeFile(clean, canonical);
  std::string bin = ITERC_BINARY;
  auto quiet = [](const fs::path &p) {
    return " '" + p.string() + "' >/dev/null 2>&1";
  };
  CHECK(runShell(bin + " fmt --check" + quiet(messy)) == 1);
  CHECK(runShell(bin + " fmt --check" + quiet(clean)) == 0);
  CHECK(runShell(bin + " fmt -i" + quiet(messy)) == 0);
  CHECK(readFile(messy) == canonical);
  CHECK(runShell(bin + " fmt --check" + quiet(messy)) == 0);
  fs::remove_all(dir);
}
