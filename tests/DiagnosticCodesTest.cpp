//===- DiagnosticCodesTest.cpp - Every diagnostic code fires as documented ===//
//
// docs/diagnostics/<CODE>.md explains one code (and is what `iterc explain
// CODE` prints). Each file holds ```iter wrong fences, complete files that
// must report <CODE>, and ```iter right fences, their corrections, which must
// check with no errors and no warnings. This file also makes sure that every
// code of DiagnosticKinds.def has a doc and that `iterc explain` prints it.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

const fs::path docsDir = fs::path(ITERC_SOURCE_DIR) / "docs" / "diagnostics";

/// Codes that DiagnosticKinds.def declares but that no input can trigger
/// (the check is not implemented). Their docs say so and have no
/// ```iter wrong fence; when the check lands, give the doc an example and
/// remove the code from this list.
const std::set<std::string> notReported = {};

std::string readBinary(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct DocFence {
  unsigned line;    ///< 1-based line of the opening fence.
  std::string kind; ///< "wrong" or "right".
  std::string text;
};

/// The bodies of the ```iter wrong and ```iter right fences of a doc.
std::vector<DocFence> exampleFences(const std::string &markdown) {
  std::vector<DocFence> fences;
  for (const MarkdownFence &f : markdownFences(markdown))
    if (f.info == "iter wrong" || f.info == "iter right")
      fences.push_back(DocFence{f.line, f.info.substr(5), f.text});
  return fences;
}

/// code -> severities ("Error", "Warning", "Note") of its ids in
/// DiagnosticKinds.def.
std::map<std::string, std::set<std::string>> definedCodes() {
  std::string def = readRepoFile("compiler/Basic/DiagnosticKinds.def");
  std::map<std::string, std::set<std::string>> codes;
  static const std::regex diag(
      R"re(DIAG\(\s*\w+\s*,\s*(\w+)\s*,\s*"([EC][0-9]+)")re");
  for (auto it = std::sregex_iterator(def.begin(), def.end(), diag);
       it != std::sregex_iterator(); ++it)
    codes[(*it)[2].str()].insert((*it)[1].str());
  return codes;
}

/// Codes with a doc file (README.md excluded), sorted.
std::vector<std::string> documentedCodes() {
  std::vector<std::string> codes;
  for (const fs::directory_entry &e : fs::directory_iterator(docsDir)) {
    if (e.path().extension() != ".md" || e.path().stem() == "README")
      continue;
    codes.push_back(e.path().stem().string());
  }
  std::sort(codes.begin(), codes.end());
  return codes;
}

struct RunResult {
  std::string out;
  int status = -1;
};

/// Runs `iterc ARGS` and captures its standard output and exit status.
RunResult runIterc(const std::string &args) {
  RunResult r;
  std::string command = std::string("\"") + ITERC_BINARY + "\" " + args +
                        " 2>/dev/null";
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe)
    return r;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
    r.out.append(buffer, n);
  int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

} // namespace

TEST_CASE("DiagnosticCodes: the example extractor finds only ```iter wrong and right fences",
          "[diagnostics]") {
  std::vector<DocFence> f = exampleFences(
      "# X\n```iter wrong\na\nb\n```\n```iter\nc\n```\n```text\nd\n```\n"
      "```iter right\ne\n```\n");
  REQUIRE(f.size() == 2);
  CHECK(f[0].kind == "wrong");
  CHECK(f[0].text == "a\nb\n");
  CHECK(f[0].line == 2);
  CHECK(f[1].kind == "right");
  CHECK(f[1].text == "e\n");
}

TEST_CASE("DiagnosticCodes: every documented diagnostic fires on its wrong examples and not "
          "on its right ones",
          "[diagnostics]") {
  const auto defined = definedCodes();
  const std::vector<std::string> codes = documentedCodes();
  REQUIRE(!codes.empty());
  for (const std::string &code : codes) {
    DYNAMIC_SECTION(code) {
      const fs::path path = docsDir / (code + ".md");
      const std::string text = readBinary(path);
      const std::vector<DocFence> fences = exampleFences(text);
      size_t wrong = 0, right = 0;
      for (const DocFence &f : fences) {
        const std::string name = "docs/diagnostics/" + code + ".md:" +
                                 std::to_string(f.line) + ".iter";
        CheckResult r = checkSource(f.text, name);
        INFO("```iter " << f.kind << " at docs/diagnostics/" << code
                        << ".md line " << f.line << ":\n"
                        << f.text << "\niterc reports:\n"
                        << r.render());
        if (f.kind == "wrong") {
          ++wrong;
          CHECK(r.hasCode(code));
          // The code fires with a severity that the .def declares for it.
          auto it = defined.find(code);
          if (it != defined.end())
            for (const Diagnostic &d : r.diags)
              if (d.code == code)
                CHECK(it->second.count(
                          d.severity == Severity::Warning ? "Warning"
                          : d.severity == Severity::Note  ? "Note"
                                                          : "Error") == 1);
        } else {
          ++right;
          CHECK(r.allCodes().empty());
        }
      }
      if (notReported.count(code)) {
        CHECK(wrong == 0);
      } else {
        CHECK(wrong >= 1);
        CHECK(right >= 1);
      }
    }
  }
}

TEST_CASE("DiagnosticCodes: every diagnostic doc follows the explain format", "[diagnostics]") {
  const auto defined = definedCodes();
  for (const std::string &code : documentedCodes()) {
    DYNAMIC_SECTION(code) {
      const std::string text = readBinary(docsDir / (code + ".md"));
      // The title line names the code.
      CHECK(text.rfind("# " + code + ": ", 0) == 0);
      // The first paragraph starts with the severity the .def gives.
      auto it = defined.find(code);
      REQUIRE(it != defined.end());
      std::string severity = it->second.size() > 1         ? "error or warning"
                             : it->second.count("Warning") ? "warning"
                             : it->second.count("Note")    ? "note"
                                                           : "error";
      size_t para = text.find("\n\n");
      REQUIRE(para != std::string::npos);
      const std::string lead = severity + " \xE2\x80\x94 "; // "error — "
      CHECK(text.compare(para + 2, lead.size(), lead) == 0);
      CHECK(text.find("\n## Fix\n") != std::string::npos);
      if (!notReported.count(code))
        CHECK(text.find("\n## Example\n") != std::string::npos);
    }
  }
}

TEST_CASE("DiagnosticCodes: every diagnostic code has a doc, and every doc a code",
          "[diagnostics]") {
  const auto defined = definedCodes();
  REQUIRE(defined.size() > 50);
  const std::vector<std::string> docs = documentedCodes();
  const std::set<std::string> documented(docs.begin(), docs.end());
  for (const auto &[code, severities] : defined) {
    INFO("code " << code);
    CHECK(documented.count(code) == 1);
  }
  for (const std::string &code : docs) {
    INFO("docs/diagnostics/" << code << ".md");
    CHECK(defined.count(code) == 1);
  }
  // The index lists every code.
  const std::string index = readBinary(docsDir / "README.md");
  for (const auto &[code, severities] : defined) {
    INFO("docs/diagnostics/README.md lists " << code);
    CHECK(index.find("[" + code + "](" + code + ".md)") != std::string::npos);
  }
}

TEST_CASE("DiagnosticCodes: iterc explain prints each doc", "[diagnostics][driver]") {
  for (const std::string &code : documentedCodes()) {
    INFO("iterc explain " << code);
    RunResult r = runIterc("explain " + code);
    CHECK(r.status == 0);
    CHECK(r.out == readBinary(docsDir / (code + ".md")));
  }
  // Codes are case-insensitive.
  RunResult lower = runIterc("explain c019");
  CHECK(lower.status == 0);
  CHECK(lower.out == readBinary(docsDir / "C019.md"));
  // `--list` lists exactly the documented codes, each with the title of
  // its page ("# C001: unknown node").
  RunResult list = runIterc("explain --list");
  CHECK(list.status == 0);
  std::string expected;
  for (const std::string &code : documentedCodes()) {
    std::string doc = readBinary(docsDir / (code + ".md"));
    std::string heading = doc.substr(0, doc.find('\n'));
    std::string prefix = "# " + code + ": ";
    REQUIRE(heading.rfind(prefix, 0) == 0);
    expected += code + std::string(code.size() < 6 ? 6 - code.size() : 0, ' ') +
                " " + heading.substr(prefix.size()) + "\n";
  }
  CHECK(list.out == expected);
}

TEST_CASE("DiagnosticCodes: iterc explain rejects unknown codes", "[diagnostics][driver]") {
  for (const char *code : {"C999", "E000", "README", "C15", "nonsense"}) {
    INFO("iterc explain " << code);
    RunResult r = runIterc(std::string("explain ") + code);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
  }
}

namespace {

/// The `## iterc check reports:` comment of a wrong example: the lines
/// `##   L:C: severity[CODE]: message` under it. A message may end in
/// `...`, which stands for the rest of the line.
std::vector<std::string> statedReport(const std::string &example) {
  std::vector<std::string> lines;
  static const std::regex stated(R"re(^##\s+(\d+:\d+: \w+\[\w+\]: .*)$)re");
  std::istringstream in(example);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.find("## iterc check reports:") == 0) {
      inside = true;
      continue;
    }
    std::smatch m;
    if (inside && std::regex_match(line, m, stated))
      lines.push_back(m[1].str());
    else
      inside = false;
  }
  return lines;
}

/// What `iterc check` prints for an example: `L:C: severity[CODE]: message`
/// of every error and warning, and of the notes with the page's own code.
std::vector<std::string> printedReport(const CheckResult &r,
                                       const std::string &name,
                                       const std::string &code) {
  std::vector<std::string> lines;
  std::istringstream in(r.render());
  std::string line;
  const std::string prefix = name + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0)
      continue;
    std::string rest = line.substr(prefix.size());
    static const std::regex head(R"re(^\d+:\d+: (\w+)\[(\w+)\]: .*$)re");
    std::smatch m;
    if (!std::regex_match(rest, m, head))
      continue;
    if (m[1].str() == "note" && m[2].str() != code)
      continue;
    lines.push_back(rest);
  }
  return lines;
}

bool sameLine(const std::string &stated, const std::string &printed) {
  if (stated.size() >= 3 && stated.compare(stated.size() - 3, 3, "...") == 0)
    return printed.rfind(stated.substr(0, stated.size() - 3), 0) == 0;
  return stated == printed;
}

} // namespace

TEST_CASE("DiagnosticCodes: the report a wrong example states is what iterc check prints",
          "[diagnostics][docs]") {
  CHECK(statedReport("## iterc check reports:\n##   1:2: error[E003]: x\n"
                     "##   3:4: warning[C101]: y ...\nschema a:\n##   5:6: "
                     "error[E001]: not under the heading\n") ==
        std::vector<std::string>{"1:2: error[E003]: x",
                                 "3:4: warning[C101]: y ..."});
  CHECK(sameLine("1:1: error[E012]: unknown block 'x'; ...",
                 "1:1: error[E012]: unknown block 'x'; a file declares"));
  CHECK_FALSE(sameLine("1:1: error[E012]: unknown block 'x'; ...",
                       "3:1: error[E012]: unknown block 'x'; a file declares"));
  for (const std::string &code : documentedCodes()) {
    const std::string text = readBinary(docsDir / (code + ".md"));
    for (const DocFence &f : exampleFences(text)) {
      if (f.kind != "wrong")
        continue;
      const std::string name = "docs/diagnostics/" + code + ".md:" +
                               std::to_string(f.line) + ".iter";
      const std::vector<std::string> stated = statedReport(f.text);
      if (stated.empty())
        continue;
      CheckResult r = checkSource(f.text, name);
      const std::vector<std::string> printed = printedReport(r, name, code);
      std::string statedText, printedText;
      for (const std::string &s : stated)
        statedText += "  " + s + "\n";
      for (const std::string &p : printed)
        printedText += "  " + p + "\n";
      INFO("```iter wrong at docs/diagnostics/" << code << ".md line " << f.line
                                                << " states:\n" << statedText
                                                << "iterc check prints:\n"
                                                << printedText);
      bool same = stated.size() == printed.size();
      for (size_t i = 0; same && i < stated.size(); ++i)
        same = sameLine(stated[i], printed[i]);
      CHECK(same);
    }
  }
}
