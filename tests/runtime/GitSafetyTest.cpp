//===- GitSafetyTest.cpp - The git tools run nothing a repository names ---===//
//
// This file tests that the built-in git tools (git_status, git_diff) cannot be
// turned into code execution by a repository: a `.git/config` planted with
// every program-running key git knows for status and diff (fsmonitor, clean
// filters, textconv and external diff drivers, pagers, hooks, credential
// helpers, an include of another file), `.gitattributes` selecting those
// drivers and a hook script, each writing a canary file outside the
// workspace. Plain git is run first to show the trap is real; then the tools
// are called and no canary may appear while their output stays right. The
// file tools refuse to write under `.git/` at all.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/AgentTools.h"

#include "BuiltinToolsFixture.h"
#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::readText;
using iterc::rt::test::TempDir;
using iterc::rt::test::writeText;

namespace {

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

bool haveGit() { return std::system("git --version >/dev/null 2>&1") == 0; }

int sh(const std::string &command) {
  return std::system(("/bin/sh -c " + shellQuote(command)).c_str());
}

/// A committed repository in a workspace, with a trapped configuration.
struct TrappedRepo : iterc::rt::test::BuiltinToolsFixture {
  std::string canary(const std::string &name) const {
    return outside / ("canary-" + name);
  }
  /// A shell command that leaves the canary `name`.
  std::string touch(const std::string &name) const {
    return "touch " + shellQuote(canary(name));
  }

  void init() {
    std::string setup =
        "cd " + shellQuote(ws.path()) +
        " && git init -q . && git config user.email t@example.com"
        " && git config user.name T && printf 'one\\n' > a.txt"
        " && git add a.txt && git commit -q -m init";
    REQUIRE(sh(setup) == 0);
  }

  /// Plants every trap; `a.txt` is modified and `new.txt` untracked.
  void plant() {
    auto config = [&](const std::string &key, const std::string &value) {
      REQUIRE(sh("cd " + shellQuote(ws.path()) + " && git config " +
                 shellQuote(key) + " " + shellQuote(value)) == 0);
    };
    config("core.fsmonitor", touch("fsmonitor") + "; false");
    config("filter.evil.clean", touch("clean") + "; cat");
    config("filter.evil.smudge", touch("smudge") + "; cat");
    config("filter.evil2.process", touch("process"));
    config("diff.evil.textconv", touch("textconv") + "; cat");
    config("diff.evil.command", touch("diffcommand") + "; true");
    config("diff.external", touch("external") + "; true");
    config("core.pager", touch("pager") + "; cat");
    config("pager.diff", touch("pagerdiff") + "; cat");
    config("pager.status", touch("pagerstatus") + "; cat");
    config("credential.helper", "!" + touch("credential"));
    config("core.sshCommand", touch("ssh"));
    config("gpg.program", touch("gpg"));
    config("core.editor", touch("editor"));
    config("core.askPass", touch("askpass"));
    // An included file may hold more of the same.
    writeText(outside / "more.config",
              "[core]\n\tfsmonitor = \"" + touch("included") + "; false\"\n");
    config("include.path", outside / "more.config");
    // Hooks: in .git/hooks and through core.hooksPath.
    std::string hook = "#!/bin/sh\n" + touch("hook") + "\n";
    for (const char *name :
         {"post-index-change", "post-checkout", "pre-commit", "pre-auto-gc"}) {
      std::string path = ws / (std::string(".git/hooks/") + name);
      writeText(path, hook);
      REQUIRE(::chmod(path.c_str(), 0755) == 0);
    }
    writeText(ws / ".gitattributes", "a.txt diff=evil filter=evil\n");
    writeText(ws / "a.txt", "two\n");
    writeText(ws / "new.txt", "x\n");
  }

  std::vector<std::string> canaries() const {
    std::vector<std::string> found;
    for (const char *name :
         {"fsmonitor", "clean", "smudge", "process", "textconv", "diffcommand",
          "external", "pager", "pagerdiff", "pagerstatus", "credential", "ssh",
          "gpg", "editor", "askpass", "included", "hook"})
      if (exists(canary(name)))
        found.push_back(name);
    return found;
  }
  void clearCanaries() {
    REQUIRE(sh("rm -f " + shellQuote(outside.path()) + "/canary-*") == 0);
  }
};

std::string join(const std::vector<std::string> &words) {
  std::string text;
  for (const std::string &w : words)
    text += (text.empty() ? "" : ", ") + w;
  return text;
}

} // namespace

TEST_CASE("git tools run nothing a planted .git/config names", "[git-safety]") {
  if (!haveGit()) {
    WARN("SKIPPED: git is not installed");
    return;
  }
  TrappedRepo repo;
  repo.init();
  repo.plant();
  std::string config = readText(repo.ws / ".git/config");

  // The trap is real: plain git, as the tools used to run it, fires it.
  std::string plain =
      "cd " + shellQuote(repo.ws.path()) +
      " && git status --short >/dev/null 2>&1;"
      " git diff --no-color >/dev/null 2>&1;"
      " git diff --no-color --no-ext-diff >/dev/null 2>&1; true";
  REQUIRE(sh(plain) == 0);
  std::vector<std::string> fired = repo.canaries();
  INFO("plain git fired: " << join(fired));
  auto didFire = [&](const char *name) {
    return std::find(fired.begin(), fired.end(), name) != fired.end();
  };
  // The included file's fsmonitor overrides the first one.
  CHECK(didFire("included"));
  CHECK(didFire("hook"));
  CHECK(didFire("textconv"));
  CHECK(didFire("diffcommand"));
  CHECK(didFire("clean"));
  repo.clearCanaries();

  std::string status = repo.text("git_status", Json::object());
  CHECK(contains(status, " M a.txt"));
  CHECK(contains(status, "?? new.txt"));
  CHECK(contains(status, "?? .gitattributes"));
  std::string diff = repo.text("git_diff", Json::object());
  CHECK(contains(diff, "-one"));
  CHECK(contains(diff, "+two"));
  CHECK(contains(repo.text("git_diff", {{"args", Json::array({"--stat"})}}),
                 "a.txt"));
  CHECK(contains(repo.text("git_diff", {{"args", Json::array({"HEAD"})}}),
                 "+two"));
  CHECK(contains(
      repo.text("git_diff", {{"args", Json::array({"--cached", "--stat"})}}),
      "(no differences)"));
  CHECK(contains(repo.text("git_diff", {{"args", "--name-only"}}), "a.txt"));
  // Words that would switch a driver back on are refused.
  for (const char *word : {"--textconv", "--ext-diff", "--output=/tmp/x"})
    CHECK(contains(repo.error("git_diff", {{"args", Json::array({word})}}),
                   "does not allow"));

  std::vector<std::string> after = repo.canaries();
  INFO("the git tools fired: " << join(after));
  CHECK(after.empty());
  // The repository is left as it was.
  CHECK(readText(repo.ws / ".git/config") == config);
  CHECK(!exists(repo.ws / ".git/index.lock"));
}

TEST_CASE("git tools ignore the user's and the system's git configuration",
          "[git-safety]") {
  if (!haveGit()) {
    WARN("SKIPPED: git is not installed");
    return;
  }
  TrappedRepo repo;
  repo.init();
  TempDir home;
  writeText(home / ".gitconfig",
            "[core]\n\tfsmonitor = \"" + repo.touch("global") + "; false\"\n");
  writeText(repo.ws / "a.txt", "two\n");
  test::ScopedEnv setHome("HOME", home.path().c_str());
  test::ScopedEnv setXdg("XDG_CONFIG_HOME", (home / "xdg").c_str());
  // The trap fires under plain git with that HOME.
  REQUIRE(sh("cd " + shellQuote(repo.ws.path()) +
             " && git status --short >/dev/null 2>&1; true") == 0);
  CHECK(exists(repo.canary("global")));
  repo.clearCanaries();

  CHECK(contains(repo.text("git_status", Json::object()), " M a.txt"));
  CHECK(contains(repo.text("git_diff", Json::object()), "+two"));
  CHECK(!exists(repo.canary("global")));
}

TEST_CASE("git tools report a workspace without its own repository",
          "[git-safety]") {
  if (!haveGit()) {
    WARN("SKIPPED: git is not installed");
    return;
  }
  TrappedRepo repo;
  CHECK(contains(repo.error("git_status", Json::object()), "not a git"));
  // A .git that is a symlink to a repository elsewhere is not followed.
  REQUIRE(sh("cd " + shellQuote(repo.outside.path()) + " && git init -q r") ==
          0);
  REQUIRE(::symlink((repo.outside / "r/.git").c_str(),
                    (repo.ws / ".git").c_str()) == 0);
  CHECK(
      contains(repo.error("git_status", Json::object()), ".git is a symlink"));
  CHECK(contains(repo.error("git_diff", Json::object()), ".git is a symlink"));
}

TEST_CASE("file tools refuse to write under .git", "[git-safety]") {
  TrappedRepo repo;
  REQUIRE(::mkdir((repo.ws / ".git").c_str(), 0755) == 0);
  REQUIRE(::mkdir((repo.ws / "sub").c_str(), 0755) == 0);
  REQUIRE(::mkdir((repo.ws / "sub/.Git").c_str(), 0755) == 0);
  writeText(repo.ws / ".git/config", "[core]\n");
  for (const char *path :
       {".git/config", ".git/hooks/post-index-change", "./.git/config",
        ".GIT/config", "sub/.Git/config", "sub/.git", ".git", "x/.gIt/y"}) {
    INFO(path);
    std::string message =
        repo.error("write_file", {{"path", path}, {"content", "x"}});
    CHECK(contains(message, "git metadata"));
  }
  CHECK(contains(repo.error("patch", {{"path", ".git/config"},
                                      {"old", "[core]"},
                                      {"new", "[core]\n\tfsmonitor = x"}}),
                 "git metadata"));
  CHECK(readText(repo.ws / ".git/config") == "[core]\n");
  CHECK(!exists(repo.ws / ".git/hooks"));
  CHECK(!exists(repo.ws / "sub/.git"));
  CHECK(!exists(repo.ws / "x"));
  // Names that merely contain .git are fine.
  CHECK(repo.call("write_file", {{"path", ".gitignore"}, {"content", "x\n"}})
            .contains("written"));
  CHECK(repo.call("write_file", {{"path", "a.git/b"}, {"content", "x\n"}})
            .contains("written"));
}
