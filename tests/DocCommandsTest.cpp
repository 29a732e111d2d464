//===- DocCommandsTest.cpp - The docs' commands run as shown --------------===//
//
// Runs every ```sh and ```console block of README.md, bench/README.md and
// docs/*.md that is not marked no-run (DocFences.h has the rules), offline:
// in a scratch directory per page, with `iterc` and the example executable
// `pr_review` (built once from examples/pr_review.iter) on the PATH and at
// build/iterc, build/pr_review and ./pr_review, the repository's examples/
// beside them, no provider key in the environment. A ```sh block must exit
// 0 (or its `exit=N`); in a ```console block each `$ command` must print
// the lines under it (a `...` line stands for any lines, `...` in a line for
// any text; standard output first, then standard error) and exit 0, or
// the status a following `$ echo $?` states. The
// blocks of one page run in order in the same directory, so a page can run
// a workflow and then inspect the run.
//
//===----------------------------------------------------------------------===//
#include "DocFences.h"
#include "TestUtil.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

using namespace iterc;
using namespace iterc::test;
namespace fs = std::filesystem;

namespace {

/// One `$ command` of a console block: what it prints and how it exits.
struct Step {
  std::string command;             ///< Continuation lines joined.
  std::vector<std::string> output; ///< The lines shown under it.
  int exit = 0;                    ///< 0 unless `$ echo $?` says otherwise.
};

/// The steps of a console transcript.
std::vector<Step> transcript(const std::string &text) {
  std::vector<Step> steps;
  std::istringstream in(text);
  std::string line;
  bool expectStatus = false, continued = false;
  while (std::getline(in, line)) {
    if (continued) {
      steps.back().command += "\n" + line;
      continued = !line.empty() && line.back() == '\\';
      continue;
    }
    if (line == "$ echo $?" && !steps.empty()) {
      expectStatus = true;
      continue;
    }
    if (expectStatus) {
      steps.back().exit = std::stoi(line);
      expectStatus = false;
      continue;
    }
    if (line.rfind("$ ", 0) == 0) {
      steps.push_back(Step{line.substr(2), {}, 0});
      continued = !line.empty() && line.back() == '\\';
      continue;
    }
    if (!steps.empty())
      steps.back().output.push_back(line);
  }
  return steps;
}

/// `pattern` against `text`, where "..." matches any text.
bool lineMatches(const std::string &pattern, const std::string &text) {
  size_t dots = pattern.find("...");
  if (dots == std::string::npos)
    return pattern == text;
  if (text.compare(0, dots, pattern, 0, dots) != 0)
    return false;
  std::string rest = pattern.substr(dots + 3);
  for (size_t from = dots; from <= text.size(); ++from)
    if (lineMatches(rest, text.substr(from)))
      return true;
  return false;
}

/// The expected lines against the printed ones; a line "..." matches any
/// number of lines.
bool linesMatch(const std::vector<std::string> &want, size_t w,
                const std::vector<std::string> &got, size_t g) {
  if (w == want.size())
    return g == got.size();
  if (want[w] == "...") {
    for (size_t skip = g; skip <= got.size(); ++skip)
      if (linesMatch(want, w + 1, got, skip))
        return true;
    return false;
  }
  return g < got.size() && lineMatches(want[w], got[g]) &&
         linesMatch(want, w + 1, got, g + 1);
}

/// The scratch world the commands run in.
struct World {
  TempDir tmp;
  fs::path bin;   ///< on the PATH: iterc, pr_review
  fs::path cache; ///< the build cache, in the build tree
};

/// Builds examples/pr_review.iter once into `w.bin`.
void prepare(World &w) {
  w.bin = w.tmp.path / "bin";
  fs::create_directories(w.bin);
  w.cache = fs::path(ITERC_BINARY).parent_path() / "e2e-cache";
  fs::create_symlink(ITERC_BINARY, w.bin / "iterc");
  std::string build =
      "env ITERC_CACHE_DIR=" + quote(w.cache) + " \"" ITERC_BINARY +
      "\" build " + quote(fs::path(ITERC_SOURCE_DIR) / "examples/pr_review.iter") +
      " -o " + quote(w.bin / "pr_review") + " >" + quote(w.tmp.path / "build.log") +
      " 2>&1";
  int status = shell(build);
  INFO("iterc build examples/pr_review.iter:\n"
       << readFile(w.tmp.path / "build.log"));
  REQUIRE(status == 0);
}

/// A fresh directory for one page, as its commands expect it, with the
/// page's ```iter file=NAME blocks written to NAME.
fs::path pageDir(const World &w, const std::string &file,
                 const std::vector<DocFence> &fences) {
  std::string name = file;
  for (char &c : name)
    if (c == '/')
      c = '_';
  fs::path dir = w.tmp.path / name;
  fs::create_directories(dir / "build");
  fs::create_symlink(fs::path(ITERC_SOURCE_DIR) / "examples", dir / "examples");
  fs::create_symlink(w.bin / "iterc", dir / "build/iterc");
  fs::copy_file(w.bin / "pr_review", dir / "build/pr_review");
  fs::create_symlink(w.bin / "pr_review", dir / "pr_review");
  for (const DocFence &f : fences)
    if (f.lang == "iter" && f.attrs.count("file"))
      writeFile(dir / f.attrs.at("file"), f.text);
  return dir;
}

struct Ran {
  int status = -1;
  std::vector<std::string> lines; ///< of `output`
  /// Standard output, then standard error: a terminal interleaves them,
  /// but with both redirected the order depends on buffering; the docs show
  /// a command's stderr lines after its stdout lines.
  std::string output;
};

/// Runs `script` with sh in `dir`: no provider key, no ambient store or
/// cassette, the C locale, at most 60 s.
Ran runScript(const World &w, const fs::path &dir, const std::string &script,
              bool exitOnError) {
  writeFile(dir / ".docs-cmd", script);
  std::string command =
      "cd " + quote(dir) +
      " && env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u OPENROUTER_API_KEY"
      " -u OPENAI_BASE_URL -u ANTHROPIC_BASE_URL -u OPENROUTER_BASE_URL"
      " -u OLLAMA_BASE_URL -u ITERC_STORE_DIR -u ITERC_CASSETTE"
      " -u ITERC_PRICES LC_ALL=C LANG=C HOME=" +
      quote(dir) + " ITERC_CACHE_DIR=" + quote(w.cache) + " PATH=" +
      quote(w.bin) + ":\"$PATH\" timeout 60 sh " + (exitOnError ? "-e " : "") +
      ".docs-cmd >.docs-out 2>.docs-err </dev/null";
  Ran r;
  r.status = shell(command);
  for (const char *name : {".docs-out", ".docs-err"}) {
    std::ifstream in(dir / name, std::ios::binary);
    for (std::string line; std::getline(in, line);)
      r.lines.push_back(line);
  }
  for (const std::string &line : r.lines)
    r.output += line + "\n";
  return r;
}

void runConsole(const World &w, const fs::path &dir, const DocFence &f) {
  std::vector<Step> steps = transcript(f.text);
  CHECK_FALSE(steps.empty());
  for (const Step &s : steps) {
    Ran r = runScript(w, dir, s.command + "\n", false);
    std::string shown;
    for (const std::string &l : s.output)
      shown += l + "\n";
    INFO("```console at " << f.where() << "\n$ " << s.command
                          << "\nthe docs show (exit " << s.exit << "):\n"
                          << shown << "it printed (exit " << r.status
                          << "):\n"
                          << r.output);
    CHECK(r.status == s.exit);
    CHECK(linesMatch(s.output, 0, r.lines, 0));
  }
}

} // namespace

TEST_CASE("docs: a console transcript is read as commands, outputs and "
          "statuses",
          "[docs]") {
  std::vector<Step> s = transcript("$ a --x \\\n  --y\nout 1\n...\n$ b\n"
                                   "$ echo $?\n2\n$ c\nlast\n");
  REQUIRE(s.size() == 3);
  CHECK(s[0].command == "a --x \\\n  --y");
  CHECK(s[0].output == std::vector<std::string>{"out 1", "..."});
  CHECK(s[0].exit == 0);
  CHECK(s[1].output.empty());
  CHECK(s[1].exit == 2);
  CHECK(s[2].output == std::vector<std::string>{"last"});
  CHECK(lineMatches("run run_... is ...", "run run_1 is paused"));
  CHECK_FALSE(lineMatches("run run_... is x", "run run_1 is paused"));
  CHECK(linesMatch({"a", "...", "d"}, 0, {"a", "b", "c", "d"}, 0));
  CHECK(linesMatch({"a", "...", "b", "..."}, 0, {"a", "b"}, 0));
  CHECK_FALSE(linesMatch({"a", "b"}, 0, {"a", "b", "c"}, 0));
  CHECK_FALSE(linesMatch({}, 0, {"unexpected"}, 0));
}

TEST_CASE("docs: every ```sh and ```console block runs offline as shown",
          "[docs][e2e]") {
  REQUIRE(::access(ITERC_BINARY, X_OK) == 0);
  World w;
  prepare(w);
  size_t ran = 0;
  for (const std::string &file : docFiles()) {
    std::optional<fs::path> dir;
    const std::vector<DocFence> fences = docFences(file, readRepoFile(file));
    for (const DocFence &f : fences) {
      if ((f.lang != "sh" && f.lang != "console") || f.noRun())
        continue;
      if (!dir)
        dir = pageDir(w, file, fences);
      ++ran;
      if (f.lang == "console") {
        runConsole(w, *dir, f);
        continue;
      }
      Ran r = runScript(w, *dir, f.text, true);
      int expected = f.attrs.count("exit") ? std::stoi(f.attrs.at("exit")) : 0;
      INFO("```sh at " << f.where() << ":\n"
                       << f.text << "exited " << r.status << ", printed:\n"
                       << r.output);
      CHECK(r.status == expected);
    }
  }
  CHECK(ran >= 3);
}
