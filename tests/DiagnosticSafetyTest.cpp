//===- DiagnosticSafetyTest.cpp - Diagnostics on hostile input ------------===//
//
// Diagnostics quote the input. Whatever it holds (multibyte characters at a
// cut, invalid UTF-8, megabyte-long lines), every rendering must be valid
// UTF-8, the JSON and SARIF writers must not throw, and the output must stay
// small: a window of the line around the caret, a bounded message, a bounded
// number of diagnostics.
//
//===----------------------------------------------------------------------===//
#include "Basic/Utf8.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace iterc;
using namespace iterc::test;
using json = nlohmann::json;

namespace {

const DiagnosticFormat AllFormats[] = {
    DiagnosticFormat::Text, DiagnosticFormat::Json, DiagnosticFormat::Sarif};

/// Renders in every format and checks that each is valid UTF-8 (and JSON
/// where it should be). Returns the text rendering.
std::string renderEverywhere(const SourceManager &sources,
                             const std::vector<Diagnostic> &diags,
                             const RenderOptions &options = {}) {
  std::string text;
  for (DiagnosticFormat format : AllFormats) {
    std::string out;
    REQUIRE_NOTHROW(out = renderDiagnostics(sources, diags, format, options));
    INFO(out.substr(0, 2000));
    CHECK(findInvalidUtf8(out) == std::string::npos);
    if (format == DiagnosticFormat::Text)
      text = out;
    else
      CHECK_NOTHROW(json::parse(out));
  }
  return text;
}

/// The source-line lines of a text rendering (those indented by four).
std::vector<std::string> snippetLines(const std::string &text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol - pos);
    if (line.rfind("    ", 0) == 0)
      lines.push_back(line);
    pos = eol == std::string::npos ? text.size() : eol + 1;
  }
  return lines;
}

} // namespace

TEST_CASE("utf8: a cut never splits a code point", "[utf8]") {
  std::string s = "ab\xC3\xA9"
                  "c\xF0\x9F\x9A\x80";
  CHECK(utf8Prefix(s, 3) == "ab");
  CHECK(utf8Prefix(s, 4) == "ab\xC3\xA9");
  CHECK(utf8Prefix(s, 6) == "ab\xC3\xA9"
                            "c");
  CHECK(utf8Prefix(s, 8) == "ab\xC3\xA9"
                            "c");
  CHECK(utf8Prefix(s, 100) == s);
  CHECK(truncateUtf8(s, 3, "...") == "ab...");
  CHECK(truncateUtf8("abc", 3, "...") == "abc");
  // Not UTF-8 at all: cut at the byte limit, and escaping shows the rest.
  CHECK(utf8Prefix("\x80\x80\x80\x80\x80", 2) == "\x80\x80");
}

TEST_CASE("utf8: invalid bytes are shown as \\xNN", "[utf8]") {
  CHECK(escapeInvalidUtf8("plain é") == "plain é");
  CHECK(escapeInvalidUtf8("R\xE9sum\xE9") == "R\\xE9sum\\xE9");
  CHECK(escapeInvalidUtf8("a\xC3") == "a\\xC3");
  CHECK(escapeInvalidUtf8("\xED\xA0\x80") == "\\xED\\xA0\\x80"); // surrogate
  CHECK(escapeInvalidUtf8("\xC0\xAF") == "\\xC0\\xAF");          // overlong
  CHECK(findInvalidUtf8("ok \xF0\x9F\x9A\x80") == std::string::npos);
  CHECK(findInvalidUtf8("ok \xF0\x9F\x9A") == 3);
}

TEST_CASE("diagnostic safety: a message that quotes a cut multibyte string "
          "renders in every format",
          "[diagsafety]") {
  // The fuzzer's case: the parser quotes the unexpected string token cut to
  // 27 bytes, which fell inside the first 'é'; JSON and SARIF then threw.
  std::string source =
      readRepoFile("tests/fuzz/regressions/cut-utf8-in-message.iter");
  REQUIRE(!source.empty());
  CheckResult r = checkSource(source);
  REQUIRE(!r.diags.empty());
  for (const Diagnostic &d : r.diags)
    CHECK(findInvalidUtf8(d.message) == std::string::npos);
  std::string text = renderEverywhere(*r.sources, r.diags);
  CHECK(text.find("string \"aaaaaaaaaaaaaaaaaaaaaaaaa...") !=
        std::string::npos);
}

TEST_CASE("diagnostic safety: a long string value is cut on a code point in "
          "messages",
          "[diagsafety]") {
  // Sema quotes a string value cut to 37 bytes (`model` wants a string, a
  // `max_tokens` an integer).
  std::string value = std::string(36, 'x') + "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9";
  CheckResult r = checkSource(
      withWorkflow("agent a:\n  model: \"openai/gpt-4o\"\n  max_tokens: \"" +
                       value + "\"\n  output: out\n",
                   "  a -> done\n", "a"));
  REQUIRE(!r.diags.empty());
  bool quoted = false;
  for (const Diagnostic &d : r.diags) {
    CHECK(findInvalidUtf8(d.message) == std::string::npos);
    quoted |= d.message.find(std::string(36, 'x') + "...") != std::string::npos;
  }
  CHECK(quoted);
  renderEverywhere(*r.sources, r.diags);
}

TEST_CASE("diagnostic safety: invalid UTF-8 in the source, in messages and in "
          "names is escaped in every format",
          "[diagsafety]") {
  SECTION("in the source line quoted by E006") {
    CheckResult r = checkSource("agent a:\n  model: \"R\xE9sum\xE9\"\n");
    REQUIRE(r.hasCode("E006"));
    std::string text = renderEverywhere(*r.sources, r.diags);
    // The caret stays under the first bad byte, shown as \xE9 (four
    // columns wide).
    CHECK(text.find("      model: \"R\\xE9sum\\xE9\"\n"
                    "               ^~~~\n") != std::string::npos);
  }
  SECTION("in a message, a note, a fix-it and the file name") {
    SourceManager sources;
    unsigned id = sources.addBuffer("bad\xFFname.iter", "agent a:\n  x: 1\n");
    Diagnostic d;
    d.id = diag::err_unexpected_token;
    d.severity = Severity::Error;
    d.code = "E001";
    d.fileId = id;
    d.range = SourceRange(11, 12);
    d.message = "found \xC3 cut and \xFF bad";
    d.fixIts.emplace_back(SourceRange(11, 12), "y\xE9");
    DiagNote note;
    note.hasLocation = true;
    note.fileId = id;
    note.range = SourceRange(0, 5);
    note.message = "note \xF0\x9F";
    d.notes.push_back(note);
    std::string text = renderEverywhere(sources, {d});
    CHECK(text.find("found \\xC3 cut and \\xFF bad") != std::string::npos);
    CHECK(text.find("bad\\xFFname.iter:2:3") != std::string::npos);
    CHECK(text.find("note \\xF0\\x9F") != std::string::npos);
    std::string j = renderDiagnostics(sources, {d}, DiagnosticFormat::Json, {});
    CHECK(json::parse(j)["diagnostics"][0]["message"] ==
          "found \\xC3 cut and \\xFF bad");
  }
}

TEST_CASE("diagnostic safety: a long line is quoted as a window around the "
          "caret",
          "[diagsafety]") {
  // `model` is misspelt far into a 10,000-column line.
  std::string line = "  prompt: \"" + std::string(5000, 'p') +
                     "\", modle: 1, more: \"" + std::string(5000, 'q') + "\"";
  SourceManager sources;
  unsigned id = sources.addBuffer("long.iter", "agent a:\n" + line + "\n");
  uint32_t at = 9 + line.find("modle");
  Diagnostic d;
  d.id = diag::err_unexpected_token;
  d.severity = Severity::Error;
  d.code = "E001";
  d.fileId = id;
  d.range = SourceRange(at, at + 5);
  d.message = "unexpected";
  d.fixIts.emplace_back(SourceRange(at, at + 5), "model");
  std::string text = renderEverywhere(sources, {d});
  std::vector<std::string> lines = snippetLines(text);
  REQUIRE(lines.size() == 3);
  // "    " + "…" + 120 columns + "…"
  CHECK(countCodePoints(lines[0]) <= 4 + 1 + 120 + 1);
  CHECK(lines[0].rfind("    \u2026", 0) == 0);
  CHECK(lines[0].size() > 3);
  CHECK(lines[0].substr(lines[0].size() - 3) == "\u2026");
  // The caret and the fix-it sit under "modle" (columns in code points).
  size_t caretColumn = lines[1].find('^');
  REQUIRE(caretColumn != std::string::npos);
  std::string shown = lines[0];
  size_t modle = shown.find("modle");
  REQUIRE(modle != std::string::npos);
  CHECK(countCodePoints(shown.substr(0, modle)) == caretColumn);
  CHECK(lines[1].substr(caretColumn) == "^~~~~");
  CHECK(lines[2].find("model") == caretColumn);
}

TEST_CASE("diagnostic safety: short lines are quoted whole", "[diagsafety]") {
  CheckResult r = checkSource(
      withWorkflow("agent a:\n  modle: \"x\"\n", "  a -> done\n", "a"));
  REQUIRE(!r.diags.empty());
  std::string text = r.render();
  CHECK(text.find("\n      modle: \"x\"\n") != std::string::npos);
  CHECK(text.find("\u2026") == std::string::npos);
}

TEST_CASE("diagnostic safety: 128 KB of quotes in a with-map give bounded "
          "output",
          "[diagsafety]") {
  std::string source = withWorkflow(
      "tool t:\n  command: \"echo\"\n  output: out\n",
      "  t -> done with { x: " + std::string(128 << 10, '"') + " }\n", "t");
  CheckResult r = checkSource(source);
  REQUIRE(!r.diags.empty());
  INFO(r.diags.size() << " diagnostics");
  // One bad construct, one line: a handful of diagnostics, not hundreds.
  CHECK(r.diags.size() <= 5);
  RenderOptions options;
  options.maxDiagnostics = DefaultDiagnosticLimit;
  std::string text = renderEverywhere(*r.sources, r.diags, options);
  CHECK(text.size() < 8 * 1024);
  for (DiagnosticFormat format :
       {DiagnosticFormat::Json, DiagnosticFormat::Sarif})
    CHECK(renderDiagnostics(*r.sources, r.diags, format, options).size() <
          32 * 1024);
}

TEST_CASE("diagnostic safety: the number of diagnostics shown is capped",
          "[diagsafety]") {
  // 80 misspelt properties: 80 errors, 50 shown, the rest counted.
  std::string props;
  for (int i = 0; i < 80; ++i)
    props += "agent a" + std::to_string(i) + ":\n  modle: \"x\"\n";
  CheckResult r = checkSource(withWorkflow(props, "  a0 -> done\n", "a0"));
  REQUIRE(r.diags.size() >= 80);
  RenderOptions options;
  options.maxDiagnostics = 50;
  std::string text = renderEverywhere(*r.sources, r.diags, options);
  size_t shown = 0;
  for (size_t at = text.find("error["); at != std::string::npos;
       at = text.find("error[", at + 1))
    ++shown;
  CHECK(shown == 50);
  CHECK(text.find("iterc: " + std::to_string(r.diags.size() - 50) +
                  " more diagnostics not shown (the limit is 50") !=
        std::string::npos);
  json j = json::parse(
      renderDiagnostics(*r.sources, r.diags, DiagnosticFormat::Json, options));
  CHECK(j["diagnostics"].size() == 50);
  CHECK(j["omitted"] == r.diags.size() - 50);
  CHECK(j["errors"].get<size_t>() + j["warnings"].get<size_t>() >=
        r.diags.size());
  json s = json::parse(
      renderDiagnostics(*r.sources, r.diags, DiagnosticFormat::Sarif, options));
  CHECK(s["runs"][0]["results"].size() == 50);
  CHECK(s["runs"][0]["properties"]["omitted"] == r.diags.size() - 50);
}

TEST_CASE("diagnostic safety: a megabyte-long name is quoted in bounded "
          "messages",
          "[diagsafety]") {
  std::string name(1 << 20, 'n');
  CheckResult r = checkSource(
      withWorkflow("agent a:\n  model: \"openai/gpt-4o\"\n  output: out\n",
                   "  a -> " + name + "\n", "a"));
  REQUIRE(!r.diags.empty());
  for (const Diagnostic &d : r.diags)
    CHECK(d.message.size() <= 4096 + 3);
  CHECK(r.render().size() < 16 * 1024);
}
