//===- RenderTest.cpp - Golden tests of diagnostic rendering --------------===//
//
// Each directory tests/golden/diag/<case>/ holds input.iter and the expected
// text, JSON and SARIF renderings of its diagnostics. On a mismatch the
// actual output is written next to the expected file as <file>.actual;
// ITERC_UPDATE_GOLDEN=1 rewrites the expected files instead.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace iterc;
using namespace iterc::test;
using json = nlohmann::json;

namespace {

const char *const GoldenCases[] = {"syntax_error", "fixit_note", "many",
                                   "non_ascii", "tabs_and_strings"};

std::string goldenDir(const std::string &name) {
  return std::string(ITERC_SOURCE_DIR) + "/tests/golden/diag/" + name;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

void writeFile(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

bool updating() {
  const char *v = std::getenv("ITERC_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

/// Compares `actual` with the golden file; writes <file>.actual on mismatch.
void compareGolden(const std::string &path, const std::string &actual) {
  INFO("golden file " << path);
  if (updating()) {
    writeFile(path, actual);
    std::remove((path + ".actual").c_str());
    return;
  }
  std::string expected;
  REQUIRE(readFile(path, expected));
  if (expected != actual) {
    writeFile(path + ".actual", actual);
    FAIL("mismatch; actual output written to " << path << ".actual");
  }
  std::remove((path + ".actual").c_str());
}

CheckResult checkGoldenInput(const std::string &name) {
  std::string input;
  REQUIRE(readFile(goldenDir(name) + "/input.iter", input));
  return checkSource(input, "input.iter");
}

LineColumn lcOf(const CheckResult &r, const Diagnostic &d) {
  return r.sources->getLineColumn(d.fileId, d.range.begin);
}

} // namespace

TEST_CASE("golden: diagnostic renderings match", "[golden]") {
  for (const char *name : GoldenCases) {
    DYNAMIC_SECTION(name) {
      CheckResult r = checkGoldenInput(name);
      CHECK(!r.diags.empty());
      std::string dir = goldenDir(name);
      compareGolden(dir + "/expected.txt", r.render(DiagnosticFormat::Text));
      compareGolden(dir + "/expected.json", r.render(DiagnosticFormat::Json));
      compareGolden(dir + "/expected.sarif",
                    r.render(DiagnosticFormat::Sarif));
    }
  }
}

TEST_CASE("golden: each case shows what it is meant to show", "[golden]") {
  SECTION("syntax error") {
    CheckResult r = checkGoldenInput("syntax_error");
    REQUIRE(!r.diags.empty());
    for (const Diagnostic &d : r.diags)
      CHECK(d.code.substr(0, 1) == "E");
  }
  SECTION("semantic error with a fix-it and a note") {
    CheckResult r = checkGoldenInput("fixit_note");
    bool found = false;
    for (const Diagnostic &d : r.diags)
      if (d.code == "C001" && !d.fixIts.empty() && !d.notes.empty())
        found = true;
    CHECK(found);
    std::string text = r.render();
    CHECK(text.find("                  reviewer\n") != std::string::npos);
    CHECK(text.find(": note: 'reviewer' is declared here") !=
          std::string::npos);
  }
  SECTION("errors and warnings") {
    CheckResult r = checkGoldenInput("many");
    CHECK(r.codes(Severity::Error).size() >= 3);
    CHECK(r.codes(Severity::Warning).size() >= 2);
  }
  SECTION("non-ASCII line: columns in code points, caret aligned") {
    CheckResult r = checkGoldenInput("non_ascii");
    REQUIRE(!r.diags.empty());
    const Diagnostic &d = r.diags[0];
    CHECK(d.code == "E001");
    CHECK(lcOf(r, d).line == 2);
    CHECK(lcOf(r, d).column == 21);
    std::string text = r.render();
    // The caret sits under the '#' when both are counted in code points.
    CHECK(text.find("      model: \"modèle 🚀\" # commentaire\n"
                    "                        ^\n"
                    "                        ##\n") != std::string::npos);
    json j = json::parse(r.render(DiagnosticFormat::Json));
    CHECK(j["diagnostics"][0]["column"] == 21);
    json s = json::parse(r.render(DiagnosticFormat::Sarif));
    CHECK(s["runs"][0]["columnKind"] == "unicodeCodePoints");
    CHECK(s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
           ["region"]["startColumn"] == 21);
  }
}

TEST_CASE("golden: SARIF structure", "[golden]") {
  for (const char *name : GoldenCases) {
    DYNAMIC_SECTION(name) {
      CheckResult r = checkGoldenInput(name);
      json s = json::parse(r.render(DiagnosticFormat::Sarif));
      CHECK(s["version"] == "2.1.0");
      REQUIRE(s["runs"].is_array());
      REQUIRE(s["runs"].size() == 1);
      const json &run = s["runs"][0];
      CHECK(run["tool"]["driver"]["name"] == "iterc");
      const json &results = run["results"];
      REQUIRE(results.is_array());
      REQUIRE(results.size() == r.diags.size());
      std::vector<std::string> ruleIds, codes;
      for (size_t i = 0; i < results.size(); ++i) {
        ruleIds.push_back(results[i]["ruleId"].get<std::string>());
        codes.push_back(r.diags[i].code);
        // The ruleIndex points at the rule with that id.
        size_t index = results[i]["ruleIndex"].get<size_t>();
        REQUIRE(index < run["tool"]["driver"]["rules"].size());
        CHECK(run["tool"]["driver"]["rules"][index]["id"] ==
              results[i]["ruleId"]);
        CHECK(results[i]["level"] ==
              (r.diags[i].severity == Severity::Error ? "error" : "warning"));
        const json &region =
            results[i]["locations"][0]["physicalLocation"]["region"];
        LineColumn lc = lcOf(r, r.diags[i]);
        CHECK(region["startLine"] == lc.line);
        CHECK(region["startColumn"] == lc.column);
        CHECK(results[i]["locations"][0]["physicalLocation"]
                     ["artifactLocation"]["uri"] == "input.iter");
      }
      CHECK(ruleIds == codes);
      // The text rendering shows the same codes in the same order.
      std::string text = r.render();
      size_t at = 0;
      for (const std::string &code : codes) {
        size_t found = text.find("[" + code + "]", at);
        CHECK(found != std::string::npos);
        if (found != std::string::npos)
          at = found + 1;
      }
    }
  }
}

TEST_CASE("golden: SARIF helpUri values are URIs", "[golden]") {
  // BUG: rules carry "helpUri": "iterc explain C001", which is not a URI
  // (SARIF 2.1.0 declares helpUri with format "uri"; validators such as
  // GitHub code scanning reject it). Either omit it or use a real URI.
  CheckResult r = checkGoldenInput("fixit_note");
  json s = json::parse(r.render(DiagnosticFormat::Sarif));
  for (const json &rule : s["runs"][0]["tool"]["driver"]["rules"]) {
    if (!rule.contains("helpUri"))
      continue;
    std::string uri = rule["helpUri"].get<std::string>();
    INFO(uri);
    CHECK(uri.find(' ') == std::string::npos);
    CHECK(uri.find(':') != std::string::npos);
  }
}

TEST_CASE("golden: JSON diagnostics carry their fields", "[golden]") {
  for (const char *name : GoldenCases) {
    DYNAMIC_SECTION(name) {
      CheckResult r = checkGoldenInput(name);
      json j = json::parse(r.render(DiagnosticFormat::Json));
      REQUIRE(j["diagnostics"].is_array());
      REQUIRE(j["diagnostics"].size() == r.diags.size());
      unsigned errors = 0, warnings = 0;
      for (size_t i = 0; i < r.diags.size(); ++i) {
        const json &d = j["diagnostics"][i];
        for (const char *key :
             {"code", "severity", "file", "line", "column", "message"}) {
          INFO(key);
          CHECK(d.contains(key));
        }
        CHECK(d["code"] == r.diags[i].code);
        CHECK(d["file"] == "input.iter");
        CHECK(d["message"] == r.diags[i].message);
        LineColumn lc = lcOf(r, r.diags[i]);
        CHECK(d["line"] == lc.line);
        CHECK(d["column"] == lc.column);
        CHECK(d["line"].get<unsigned>() <= d["end_line"].get<unsigned>());
        if (r.diags[i].severity == Severity::Error) {
          ++errors;
          CHECK(d["severity"] == "error");
        } else if (r.diags[i].severity == Severity::Warning) {
          ++warnings;
          CHECK(d["severity"] == "warning");
        }
        CHECK(d["fixits"].size() == r.diags[i].fixIts.size());
        CHECK(d["notes"].size() == r.diags[i].notes.size());
      }
      CHECK(j["errors"] == errors);
      CHECK(j["warnings"] == warnings);
    }
  }
}

TEST_CASE("golden: rendering is deterministic", "[golden]") {
  for (const char *name : GoldenCases) {
    DYNAMIC_SECTION(name) {
      CheckResult a = checkGoldenInput(name);
      CheckResult b = checkGoldenInput(name);
      for (DiagnosticFormat f : {DiagnosticFormat::Text,
                                 DiagnosticFormat::Json,
                                 DiagnosticFormat::Sarif})
        CHECK(a.render(f) == b.render(f));
    }
  }
}

TEST_CASE("golden: diagnostics come in source order", "[golden]") {
  for (const char *name : GoldenCases) {
    DYNAMIC_SECTION(name) {
      CheckResult r = checkGoldenInput(name);
      for (size_t i = 1; i < r.diags.size(); ++i) {
        LineColumn p = lcOf(r, r.diags[i - 1]), q = lcOf(r, r.diags[i]);
        CHECK((p.line < q.line || (p.line == q.line && p.column <= q.column)));
      }
    }
  }
}

TEST_CASE("golden: text rendering of a fix-it and a multi-line range",
          "[golden]") {
  CheckResult r = checkSource("# x\n", "t.iter", false);
  REQUIRE(r.diags.size() == 1);
  CHECK(r.render() ==
        "t.iter:1:1: error[E001]: '#' does not start a comment; comments "
        "start with '##'\n"
        "    # x\n"
        "    ^\n"
        "    ##\n");
}

TEST_CASE("golden: no diagnostics render as empty text and empty lists",
          "[golden]") {
  CheckResult r = checkSource("schema out:\n  ok: bool\nagent a:\n"
                              "  model: \"m\"\n  output: out\n"
                              "workflow w:\n  entry: a\n  a -> done\n",
                              "ok.iter");
  REQUIRE(r.diags.empty());
  CHECK(r.render() == "");
  json j = json::parse(r.render(DiagnosticFormat::Json));
  CHECK(j["diagnostics"].empty());
  CHECK(j["errors"] == 0);
  json s = json::parse(r.render(DiagnosticFormat::Sarif));
  CHECK(s["runs"][0]["results"].empty());
  CHECK(s["version"] == "2.1.0");
}
