//===- DiffTest.cpp - iterc diff: line diff, semantic changes, goldens ----===//
//
// The line diff is checked against a quadratic LCS on random inputs (it must
// be minimal and must turn OLD into NEW). Each directory
// tests/golden/diff/<case>/ holds old.iter and new.iter, which differ in one
// kind of element, and the expected text, Markdown and JSON output of
// `iterc diff old.iter new.iter`; on a mismatch the actual output is written
// next to the expected file as <file>.actual, and ITERC_UPDATE_GOLDEN=1
// rewrites the expected files. Every case also lists the semantic changes it
// must report, so a case that stops showing its change fails even when its
// golden files are regenerated.
//
//===----------------------------------------------------------------------===//
#include "Tools/Diff.h"
#include "CodeGen/Bundle.h"
#include "CodeGen/DiffInput.h"
#include "CodeGen/Emit.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc;
using namespace iterc::diff;
namespace fs = std::filesystem;

namespace {

using iterc::test::readFile;
using iterc::test::writeFile;
using iterc::test::TempDir;



bool updating() {
  const char *v = std::getenv("ITERC_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

void compareGolden(const fs::path &path, const std::string &actual) {
  INFO("golden file " << path.string());
  fs::path actualPath = path.string() + ".actual";
  if (updating()) {
    writeFile(path, actual);
    fs::remove(actualPath);
    return;
  }
  REQUIRE(fs::exists(path));
  if (readFile(path) != actual) {
    writeFile(actualPath, actual);
    FAIL("mismatch; actual output written to " << actualPath.string());
  }
  fs::remove(actualPath);
}

codegen::Skeletons skeletons() {
  fs::path dir = fs::path(ITERC_SOURCE_DIR) / "templates";
  return codegen::Skeletons{readFile(dir / "workflow.h.mustache"),
                            readFile(dir / "workflow.cpp.mustache"),
                            readFile(dir / "CMakeLists.txt.mustache")};
}

codegen::DiffLoadOptions loadOptions() {
  codegen::DiffLoadOptions options;
  options.skeletons = [](std::string &) {
    return std::optional<codegen::Skeletons>(skeletons());
  };
  return options;
}

struct Loaded {
  Side oldSide, newSide;
  DiffResult result;
};

/// Loads two sides, labelled as given, and compares them.
std::unique_ptr<Loaded> load(const codegen::DiffInputSpec &oldSpec,
                             const codegen::DiffInputSpec &newSpec) {
  auto out = std::make_unique<Loaded>();
  std::string messages;
  bool ok = codegen::loadDiffSides(oldSpec, newSpec, loadOptions(),
                                   out->oldSide, out->newSide, messages);
  INFO(messages);
  REQUIRE(ok);
  out->result = computeDiff(out->oldSide, out->newSide);
  return out;
}

fs::path goldenRoot() {
  return fs::path(ITERC_SOURCE_DIR) / "tests" / "golden" / "diff";
}

std::unique_ptr<Loaded> loadCase(const std::string &name) {
  fs::path dir = goldenRoot() / name;
  return load({(dir / "old.iter").string(), "old.iter"},
              {(dir / "new.iter").string(), "new.iter"});
}

/// "<section> <op> <name>[ <property>]" for each change, in order.
std::vector<std::string> signatures(const DiffResult &r) {
  std::vector<std::string> out;
  for (const Change &c : r.changes) {
    std::string s = c.section + " " + changeOpName(c.op) + " " + c.name;
    if (!c.property.empty())
      s += " " + c.property;
    out.push_back(s);
  }
  return out;
}

/// The semantic changes every golden case must report, exactly.
const std::map<std::string, std::vector<std::string>> &expectedChanges() {
  static const std::map<std::string, std::vector<std::string>> cases = {
      {"identical", {}},
      {"comments_only", {}},
      {"node_added",
       {"nodes added notify", "edges changed publish -> notify to",
        "edges added notify -> done"}},
      {"node_removed",
       {"nodes removed publish", "edges changed critic -> done to",
        "edges removed publish -> done"}},
      {"node_kind_changed", {"nodes changed critic kind"}},
      {"model_changed", {"nodes changed writer model"}},
      {"edge_added", {"edges added critic -> done"}},
      {"edge_removed", {"edges removed critic -> done"}},
      {"edge_reordered", {"edges reordered critic edge order"}},
      {"condition_changed", {"edges changed critic -> publish condition"}},
      {"loop_cap_changed", {"loops changed refine cap"}},
      {"prompt_text_changed", {"prompts changed review text"}},
      {"schema_field_added", {"schemas added verdict.blocking"}},
      {"schema_field_type_changed", {"schemas changed verdict.score type"}},
      {"schema_enum_changed", {"schemas changed verdict.severity enum"}},
      {"budget_changed",
       {"budget changed budget max_tokens",
        "budget changed budget max_iterations"}},
      {"var_default_changed", {"vars changed words default"}},
      {"request_timeouts_changed",
       {"workflow changed main runner_image",
        "workflow changed main request_timeouts.\"openai/o3\"",
        "workflow changed main request_timeouts.\"anthropic/*\"",
        "nodes changed check request_timeout"}},
      {"service_image_changed", {"services changed db image"}},
      {"service_port_changed",
       {"services changed db port 5432", "services changed db port 9187"}},
      {"service_health_changed",
       {"services changed db health.interval",
        "services changed db health.retries"}},
      {"service_dockerfile_generated",
       {"services changed api dockerfile", "services changed api program"}},
  };
  return cases;
}

/// A quadratic LCS length, for checking the line diff.
size_t lcsLength(const std::vector<std::string> &a,
                 const std::vector<std::string> &b) {
  std::vector<std::vector<size_t>> t(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;)
      t[i][j] = a[i] == b[j] ? t[i + 1][j + 1] + 1
                             : std::max(t[i + 1][j], t[i][j + 1]);
  return t[0][0];
}

std::vector<std::string> linesOf(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

/// Applies hunks (with full context) to `a`; checks context lines match.
std::string applyHunks(const std::string &a, const std::vector<Hunk> &hunks) {
  std::vector<std::string> old = linesOf(a);
  std::vector<std::string> out;
  size_t next = 0; // 0-based index of the next OLD line to copy
  for (const Hunk &h : hunks) {
    size_t start = h.oldCount ? h.oldStart - 1 : h.oldStart;
    REQUIRE(start >= next);
    while (next < start)
      out.push_back(old[next++]);
    for (const DiffLine &l : h.lines) {
      if (l.tag != '+') {
        REQUIRE(next < old.size());
        REQUIRE(old[next] == l.text);
        ++next;
      }
      if (l.tag != '-')
        out.push_back(l.text);
    }
  }
  while (next < old.size())
    out.push_back(old[next++]);
  std::string text;
  for (const std::string &l : out)
    text += l + "\n";
  return text;
}


struct RunResult {
  std::string out;
  int status = -1;
};

/// Runs `iterc ARGS` in `cwd`, capturing standard output.
RunResult runIterc(const std::string &args, const fs::path &cwd) {
  RunResult r;
  std::string command = "cd '" + cwd.string() + "' && \"" ITERC_BINARY "\" " +
                        args + " 2>/dev/null";
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

/// Every fence in `markdown` (indented by at most two spaces) is closed by
/// a fence at least as long, and no fence is left open.
void checkFences(const std::string &markdown) {
  size_t open = 0;
  unsigned lineNo = 0;
  for (const std::string &raw : linesOf(markdown)) {
    ++lineNo;
    std::string line = raw.rfind("  ", 0) == 0 ? raw.substr(2) : raw;
    size_t run = line.find_first_not_of('`');
    if (run == std::string::npos)
      run = line.size();
    if (run < 3)
      continue;
    if (!open) {
      open = run;
    } else if (run >= open && run == line.size()) {
      open = 0;
    }
  }
  INFO("markdown ends inside a fence");
  CHECK(open == 0);
}

} // namespace

//===----------------------------------------------------------------------===//
// Line diff
//===----------------------------------------------------------------------===//

TEST_CASE("diffLines: equal texts have no hunks", "[diff]") {
  CHECK(diffLines("", "").empty());
  CHECK(diffLines("a\nb\n", "a\nb\n").empty());
  CHECK(unifiedDiff("x\n", "x\n", "a/x", "b/x").empty());
}

TEST_CASE("diffLines: hunk headers follow diff -u", "[diff]") {
  CHECK(unifiedDiff("", "a\nb\n", "a/f", "b/f") ==
        "--- a/f\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  CHECK(unifiedDiff("a\n", "", "a/f", "b/f") ==
        "--- a/f\n+++ b/f\n@@ -1 +0,0 @@\n-a\n");
  CHECK(unifiedDiff("a\nb\nc\n", "a\nB\nc\n", "a/f", "b/f") ==
        "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
  // An insertion after line 2 with no context: "-2,0".
  CHECK(unifiedDiff("a\nb\nc\n", "a\nb\nX\nc\n", "a/f", "b/f", 0) ==
        "--- a/f\n+++ b/f\n@@ -2,0 +3 @@\n+X\n");
}

TEST_CASE("diffLines: a missing final newline is a change and is marked",
          "[diff]") {
  CHECK(unifiedDiff("a\nb", "a\nb\n", "a/f", "b/f") ==
        "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of "
        "file\n+b\n");
}

TEST_CASE("diffLines: three lines of context; close hunks merge", "[diff]") {
  std::string a, b;
  for (int i = 1; i <= 30; ++i) {
    a += "line " + std::to_string(i) + "\n";
    b += (i == 5 || i == 11 || i == 25 ? "LINE " : "line ") +
         std::to_string(i) + "\n";
  }
  std::vector<Hunk> hunks = diffLines(a, b);
  // 5 and 11 are 5 unchanged lines apart (<= 6): one hunk; 25 is separate.
  REQUIRE(hunks.size() == 2);
  CHECK(hunkHeader(hunks[0]) == "@@ -2,13 +2,13 @@");
  CHECK(hunkHeader(hunks[1]) == "@@ -22,7 +22,7 @@");
  CHECK(hunks[0].lines.front().text == "line 2");
  CHECK(hunks[1].lines.back().text == "line 28");
}

TEST_CASE("diffLines: minimal and correct on random inputs", "[diff]") {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 600; ++round) {
    int alphabet = 2 + round % 5;
    auto randomText = [&](int maxLines) {
      std::string text;
      int n = int(rng() % unsigned(maxLines + 1));
      for (int i = 0; i < n; ++i)
        text += std::string(1, char('a' + rng() % unsigned(alphabet))) + "\n";
      return text;
    };
    std::string a = randomText(round < 500 ? 12 : 60);
    std::string b = rng() % 4 == 0 ? a : randomText(round < 500 ? 12 : 60);
    if (rng() % 3 == 0 && !a.empty()) {
      // A mutation of a: a few lines replaced, inserted or dropped.
      std::vector<std::string> lines = linesOf(a);
      for (int k = 0; k < 3 && !lines.empty(); ++k) {
        size_t at = rng() % lines.size();
        switch (rng() % 3) {
        case 0:
          lines[at] = "z";
          break;
        case 1:
          lines.insert(lines.begin() + long(at), "y");
          break;
        default:
          lines.erase(lines.begin() + long(at));
        }
      }
      b.clear();
      for (const std::string &l : lines)
        b += l + "\n";
    }
    INFO("a = " << a << "b = " << b);
    unsigned context = rng() % 4;
    std::vector<Hunk> hunks = diffLines(a, b, context);
    CHECK(applyHunks(a, hunks) == b);
    size_t removed = 0, added = 0;
    for (const Hunk &h : hunks)
      for (const DiffLine &l : h.lines) {
        removed += l.tag == '-';
        added += l.tag == '+';
      }
    size_t common = lcsLength(linesOf(a), linesOf(b));
    CHECK(removed == linesOf(a).size() - common);
    CHECK(added == linesOf(b).size() - common);
    CHECK(hunks.empty() == (a == b));
  }
}

TEST_CASE("diffLines: large inputs stay fast", "[diff]") {
  std::string a, b;
  for (int i = 0; i < 20000; ++i) {
    a += "a" + std::to_string(i) + "\n";
    b += "b" + std::to_string(i) + "\n";
  }
  std::vector<Hunk> hunks = diffLines(a, b);
  REQUIRE(hunks.size() == 1);
  CHECK(hunks[0].oldCount == 20000);
  CHECK(hunks[0].newCount == 20000);
}

TEST_CASE("markdownFence is longer than any backtick run", "[diff]") {
  CHECK(markdownFence("plain") == "```");
  CHECK(markdownFence("a ``` b") == "````");
  CHECK(markdownFence("`````") == "``````");
}

//===----------------------------------------------------------------------===//
// Golden pairs
//===----------------------------------------------------------------------===//

TEST_CASE("diff golden pairs", "[diff]") {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(goldenRoot()))
    if (e.is_directory())
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  // Every case on disk has expectations and every expectation a case.
  std::vector<std::string> expected;
  for (const auto &[name, changes] : expectedChanges())
    expected.push_back(name);
  REQUIRE(names == expected);

  for (const std::string &name : names) {
    DYNAMIC_SECTION(name) {
      std::unique_ptr<Loaded> loaded = loadCase(name);
      const DiffResult &r = loaded->result;
      CHECK(r.semanticAvailable);
      CHECK(signatures(r) == expectedChanges().at(name));
      if (name == "identical") {
        CHECK(r.identical());
        CHECK(r.files.empty());
      } else {
        // Every case changes the generated files (the source sha256 at
        // least) and is reported as different.
        CHECK_FALSE(r.identical());
        CHECK_FALSE(r.files.empty());
        CHECK(r.sourceTextDiffers);
      }
      for (const Change &c : r.changes) {
        // Every change is located in the side(s) it concerns.
        if (c.op != ChangeOp::Added)
          CHECK(
              (c.oldLoc && c.oldLoc->file == "old.iter" && c.oldLoc->line > 0));
        if (c.op != ChangeOp::Removed)
          CHECK(
              (c.newLoc && c.newLoc->file == "new.iter" && c.newLoc->line > 0));
      }
      std::string text = renderDiff(r, {DiffFormat::Text, false});
      std::string markdown = renderDiff(r, {DiffFormat::Markdown, false});
      std::string json = renderDiff(r, {DiffFormat::Json, false});
      checkFences(markdown);
      nlohmann::json parsed = nlohmann::json::parse(json);
      CHECK(parsed["format"] == "iterc-diff");
      CHECK(parsed["identical"] == r.identical());
      CHECK(parsed["semantic"]["changes"].size() == r.changes.size());
      fs::path dir = goldenRoot() / name;
      compareGolden(dir / "expected.txt", text);
      compareGolden(dir / "expected.md", markdown);
      compareGolden(dir / "expected.json", json);
    }
  }
}

TEST_CASE("diff: colour only when asked", "[diff]") {
  std::unique_ptr<Loaded> loaded = loadCase("model_changed");
  std::string plain = renderDiff(loaded->result, {DiffFormat::Text, false});
  std::string coloured = renderDiff(loaded->result, {DiffFormat::Text, true});
  CHECK(plain.find('\033') == std::string::npos);
  CHECK(coloured.find("\033[33m~ writer: model") != std::string::npos);
  // Colour does not leak into Markdown or JSON.
  CHECK(renderDiff(loaded->result, {DiffFormat::Markdown, true}).find('\033') ==
        std::string::npos);
}

TEST_CASE("diff: the prompt diff and generated README get longer fences",
          "[diff]") {
  std::unique_ptr<Loaded> loaded = loadCase("prompt_text_changed");
  std::string markdown =
      renderDiff(loaded->result, {DiffFormat::Markdown, false});
  // The prompt holds ``` and the README.md diff holds ``` fences.
  CHECK(markdown.find("  ````diff\n") != std::string::npos);
  CHECK(markdown.find("\n````diff\n--- a/README.md") != std::string::npos);
}

TEST_CASE("diff: conditions compare by canonical expression", "[diff]") {
  std::string base = readFile(goldenRoot() / "identical" / "old.iter");
  std::string respaced = base;
  size_t at = respaced.find("\"score >= 8\"");
  REQUIRE(at != std::string::npos);
  respaced.replace(at, 12, "\"(score)>=8\"");
  TempDir tmp;
  writeFile(tmp.path / "a.iter", base);
  writeFile(tmp.path / "b.iter", respaced);
  std::unique_ptr<Loaded> loaded = load({(tmp.path / "a.iter").string(), "a"},
                                        {(tmp.path / "b.iter").string(), "b"});
  CHECK(loaded->result.changes.empty());
  CHECK(loaded->result.sourceTextDiffers);
}

TEST_CASE("diff: workflow, vars, presets, with, checks, field order, MCP",
          "[diff]") {
  const char *oldText = R"(vars:
  topic: string
  words: int = 500

presets:
  quick:
    words: 150

mcp_server github:
  command: "github-mcp-server"
  args: ["stdio"]

prompt write:
  Write about {{vars.topic}}.

schema answer:
  text: string
  ok: bool

agent writer:
  model: "openai/gpt-4o-mini"
  output: answer
  user: write
  tools: [mcp.github.*]
  mcp:
    servers: [github]

verify check:
  checks:
    long: "length(outputs.writer.text) > 10"
    ok: "outputs.writer.ok"

workflow misc:
  entry: writer
  writer -> check with { note: "{{outputs.writer.text}}" }
  check -> done when passed
  check -> writer when not passed as retry(3)
  check -> fail
)";
  std::string newText = oldText;
  auto replace = [&](const std::string &from, const std::string &to) {
    size_t at = newText.find(from);
    REQUIRE(at != std::string::npos);
    newText.replace(at, from.size(), to);
  };
  replace("  words: int = 500\n",
          "  words: int = 500\n  tone: string = \"plain\"\n");
  replace("    words: 150", "    words: 200");
  replace("[\"stdio\"]", "[\"stdio\", \"--read-only\"]");
  replace("  text: string\n  ok: bool\n", "  ok: bool\n  text: string\n");
  replace("text) > 10", "text) > 20");
  // Only the layout of this expression changes: not reported.
  replace("\"outputs.writer.ok\"", "\"(outputs.writer.ok)\"");
  replace("workflow misc:", "workflow misc2:");
  replace("{{outputs.writer.text}}\" }", "{{outputs.writer.ok}}\" }");

  TempDir tmp;
  writeFile(tmp.path / "a.iter", oldText);
  writeFile(tmp.path / "b.iter", newText);
  std::unique_ptr<Loaded> loaded =
      load({(tmp.path / "a.iter").string(), "a.iter"},
           {(tmp.path / "b.iter").string(), "b.iter"});
  const DiffResult &r = loaded->result;
  CHECK(signatures(r) ==
        std::vector<std::string>{
            "workflow changed misc2 name", "nodes changed check check.long",
            "edges changed writer -> check with.note",
            "schemas reordered answer field order", "vars added tone",
            "presets changed quick words", "mcp_servers changed github args"});
  // Renaming the workflow renames the program and its files.
  std::vector<std::string> files;
  for (const FileDiff &f : r.files)
    files.push_back(std::string(fileStatusName(f.status)) + " " + f.path);
  CHECK(files == std::vector<std::string>{
                     "modified CMakeLists.txt", "modified Dockerfile",
                     "modified README.md", "modified compose.yaml",
                     "removed misc.cpp", "removed misc.h", "added misc2.cpp",
                     "added misc2.h", "modified manifest.json"});
  std::string text = renderDiff(r, {DiffFormat::Text, false});
  CHECK(text.find("    ~ writer -> check: with.note "
                  "\"{{outputs.writer.text}}\" -> \"{{outputs.writer.ok}}\"  "
                  "[a.iter:35 -> b.iter:36]\n") != std::string::npos);
  CHECK(text.find("--- a/misc.cpp\n+++ /dev/null\n@@ -1,") !=
        std::string::npos);
  CHECK(text.find("--- /dev/null\n+++ b/misc2.cpp\n@@ -0,0 +1,") !=
        std::string::npos);
}

//===----------------------------------------------------------------------===//
// Emit directories and bundles
//===----------------------------------------------------------------------===//

namespace {

/// Writes what `iterc emit` writes for a golden case's file into `dir`.
void emitInto(const fs::path &source, const std::string &recorded,
              const fs::path &dir) {
  std::string text = readFile(source);
  test::CheckResult r = test::checkSource(text, recorded);
  REQUIRE(r.module);
  for (const codegen::EmittedFile &f : codegen::emitWorkflow(
           *r.module, codegen::makeEmitContext(*r.module, recorded, text),
           skeletons()))
    writeFile(dir / f.path, f.content);
}

} // namespace

TEST_CASE("diff: an emit directory without its source compares files only",
          "[diff]") {
  TempDir tmp;
  fs::path src = goldenRoot() / "model_changed";
  emitInto(src / "old.iter", "flow.iter", tmp.path / "out");
  std::unique_ptr<Loaded> loaded =
      load({(tmp.path / "out").string(), "out"},
           {(src / "new.iter").string(), "new.iter"});
  const DiffResult &r = loaded->result;
  CHECK_FALSE(r.semanticAvailable);
  CHECK(r.semanticNote == "out is an emit directory without its source");
  // The .iter side is emitted under the directory's recorded path, so only
  // content differences show.
  CHECK(loaded->newSide.recordedPath == "flow.iter");
  REQUIRE_FALSE(r.files.empty());
  CHECK_FALSE(r.identical());
  std::string text = renderDiff(r, {DiffFormat::Text, false});
  CHECK(text.find("old: out (emit directory of flow.iter)") !=
        std::string::npos);
  CHECK(text.find("semantic changes: not available (out is an emit "
                  "directory without its source); comparing generated files "
                  "only") != std::string::npos);

  // The same source emitted and compared: identical.
  std::unique_ptr<Loaded> same =
      load({(tmp.path / "out").string(), "out"},
           {(src / "old.iter").string(), "old.iter"});
  CHECK(same->result.identical());
}

TEST_CASE("diff: an emit directory holding source/ gets a semantic summary",
          "[diff]") {
  TempDir tmp;
  fs::path src = goldenRoot() / "model_changed";
  emitInto(src / "old.iter", "flow.iter", tmp.path / "out");
  writeFile(tmp.path / "out" / "source" / "flow.iter",
            readFile(src / "old.iter"));
  std::unique_ptr<Loaded> loaded =
      load({(tmp.path / "out").string(), "out"},
           {(src / "new.iter").string(), "new.iter"});
  CHECK(loaded->result.semanticAvailable);
  CHECK(signatures(loaded->result) ==
        std::vector<std::string>{"nodes changed writer model"});
  REQUIRE(loaded->result.changes[0].oldLoc);
  CHECK(loaded->result.changes[0].oldLoc->file == "out/source/flow.iter");

  // A source that does not match the manifest is not used.
  writeFile(tmp.path / "out" / "source" / "flow.iter",
            readFile(src / "new.iter"));
  std::unique_ptr<Loaded> stale =
      load({(tmp.path / "out").string(), "out"},
           {(src / "new.iter").string(), "new.iter"});
  CHECK_FALSE(stale->result.semanticAvailable);
  CHECK(stale->result.semanticNote ==
        "out/source/flow.iter does not match the sha256 in manifest.json");
}

TEST_CASE("diff: a bundle side", "[diff]") {
  TempDir tmp;
  fs::path src = goldenRoot() / "loop_cap_changed";
  std::string text = readFile(src / "old.iter");
  test::CheckResult r = test::checkSource(text, "flow.iter");
  REQUIRE(r.module);
  std::vector<codegen::EmittedFile> emitted = codegen::emitWorkflow(
      *r.module, codegen::makeEmitContext(*r.module, "flow.iter", text),
      skeletons());
  codegen::BundleError error;
  std::optional<std::string> bundle = codegen::writeBundle(
      codegen::workflowBundleFiles(emitted, "flow.iter", text),
      codegen::BundleForm::Binary, error);
  INFO(error.describe());
  REQUIRE(bundle);
  writeFile(tmp.path / "old.bundle", *bundle);
  std::unique_ptr<Loaded> loaded =
      load({(tmp.path / "old.bundle").string(), "old.bundle"},
           {(src / "new.iter").string(), "new.iter"});
  CHECK(loaded->oldSide.kind == SideKind::Bundle);
  CHECK(loaded->result.semanticAvailable);
  CHECK(signatures(loaded->result) ==
        std::vector<std::string>{"loops changed refine cap"});
  CHECK(loaded->result.changes[0].oldLoc->file ==
        "old.bundle/source/flow.iter");
  // Both emitted under flow.iter: the files differ only where the cap does.
  for (const FileDiff &f : loaded->result.files)
    CHECK(f.path != "source/flow.iter");

  // The bundle against its own source: identical.
  std::unique_ptr<Loaded> same =
      load({(tmp.path / "old.bundle").string(), "old.bundle"},
           {(src / "old.iter").string(), "flow.iter"});
  CHECK(same->result.identical());
}

//===----------------------------------------------------------------------===//
// The command
//===----------------------------------------------------------------------===//

TEST_CASE("iterc diff: exit status and formats", "[diff]") {
  fs::path cases = goldenRoot();
  RunResult same =
      runIterc("diff identical/old.iter identical/new.iter", cases);
  CHECK(same.status == 0);
  CHECK(same.out.find("no differences") != std::string::npos);

  RunResult different =
      runIterc("diff model_changed/old.iter model_changed/new.iter", cases);
  CHECK(different.status == 1);
  CHECK(different.out.find("~ writer: model \"openai/gpt-4o-mini\" -> "
                           "\"openai/gpt-4o\"  [model_changed/old.iter:",
                           0) != std::string::npos);
  CHECK(different.out.find("\033") == std::string::npos);

  RunResult json = runIterc(
      "diff --format=json model_changed/old.iter model_changed/new.iter",
      cases);
  CHECK(json.status == 1);
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["semantic"]["changes"][0]["property"] == "model");

  RunResult md = runIterc("diff --format markdown -U1 model_changed/old.iter "
                          "model_changed/new.iter",
                          cases);
  CHECK(md.status == 1);
  CHECK(md.out.rfind("## iterc diff\n", 0) == 0);

  CHECK(runIterc("diff model_changed/old.iter", cases).status == 2);
  CHECK(runIterc("diff --format=xml a b", cases).status == 2);
  CHECK(runIterc("diff model_changed/old.iter does-not-exist.iter", cases)
            .status == 2);
  CHECK(runIterc("diff --help", cases).status == 0);

  TempDir tmp;
  writeFile(tmp.path / "broken.iter", "workflow w:\n  entry: nowhere\n");
  CHECK(runIterc("diff broken.iter broken.iter", tmp.path).status == 2);
}

TEST_CASE("iterc diff: an emitted directory against its source", "[diff]") {
  TempDir tmp;
  fs::path flow = goldenRoot() / "identical" / "old.iter";
  writeFile(tmp.path / "flow.iter", readFile(flow));
  REQUIRE(runIterc("emit flow.iter -o out", tmp.path).status == 0);
  RunResult same = runIterc("diff out flow.iter", tmp.path);
  CHECK(same.status == 0);
  writeFile(tmp.path / "flow2.iter",
            readFile(goldenRoot() / "budget_changed" / "new.iter"));
  RunResult different = runIterc("diff out flow2.iter", tmp.path);
  CHECK(different.status == 1);
  CHECK(different.out.find("--- a/refine.cpp") != std::string::npos);
}

TEST_CASE("diff: raw strings are shown as written", "[diff]") {
  auto source = [](const std::string &command) {
    return "schema out:\n  ok: bool\n\ntool t:\n  command: " + command +
           "\n  output: out\n\nworkflow w:\n  entry: t\n  t -> done\n";
  };
  TempDir tmp;
  writeFile(tmp.path / "a.iter", source(R"(`grep -E "a\d+" x`)"));
  writeFile(tmp.path / "b.iter", source(R"(`grep -E "b\d+" x`)"));
  std::unique_ptr<Loaded> loaded = load({(tmp.path / "a.iter").string(), "a"},
                                        {(tmp.path / "b.iter").string(), "b"});
  REQUIRE(!loaded->result.changes.empty());
  DiffRenderOptions options;
  std::string text = renderDiff(loaded->result, options);
  INFO(text);
  CHECK(text.find(R"(`grep -E "a\d+" x`)") != std::string::npos);
  CHECK(text.find(R"(`grep -E "b\d+" x`)") != std::string::npos);
  // Not re-escaped in the semantic summary (the generated C++ below has
  // its own escapes).
  std::string summary = text.substr(0, text.find("generated files"));
  CHECK(summary.find(R"(\"a\\d+\")") == std::string::npos);
}
