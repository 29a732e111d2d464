//===- ToolTest.cpp - Tests for the tool runner and workspace writer ------===//
//
// This file tests the process runner (exit codes, capture, caps, timeouts
// that kill the whole group, the environment allowlist, the working
// directory, interpreters, concurrency), shell quoting through a real
// /bin/sh, and the confined workspace writer.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Tool.h"

#include "RuntimeTestUtil.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <dirent.h>
#include <set>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::processGone;
using iterc::rt::test::readText;
using iterc::rt::test::TempDir;

namespace {

ToolInvocation invocation(const std::string &command,
                          const std::string &workdir) {
  ToolInvocation inv;
  inv.command = command;
  inv.workdir = workdir;
  inv.env = {{"PATH", "/usr/bin:/bin"}};
  inv.timeoutMs = 20000;
  return inv;
}

ToolResult runOk(const ToolInvocation &inv) {
  Expected<ToolResult> result = makeProcessRunner()->run(inv);
  INFO((result ? std::string() : result.error().message));
  REQUIRE(result.ok());
  return *result;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

pid_t readPid(const std::string &path) {
  for (int i = 0; i < 200; ++i) {
    std::string text = readText(path);
    if (!text.empty() && text.back() == '\n')
      return pid_t(std::atol(text.c_str()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

} // namespace

TEST_CASE("tool: exit codes and signals", "[tool]") {
  TempDir dir;
  CHECK(runOk(invocation("true", dir.path())).exitCode == 0);
  ToolResult failed = runOk(invocation("exit 3", dir.path()));
  CHECK(failed.exitCode == 3);
  CHECK(failed.signal == 0);
  CHECK_FALSE(failed.timedOut);
  ToolResult killed = runOk(invocation("kill -TERM $$", dir.path()));
  CHECK(killed.exitCode == -1);
  CHECK(killed.signal == SIGTERM);
  CHECK_FALSE(killed.timedOut);
}

TEST_CASE("tool: stdout and stderr are captured separately", "[tool]") {
  TempDir dir;
  ToolResult result = runOk(
      invocation("echo out; echo err >&2; printf 'more out'; printf 'x' 1>&2",
                 dir.path()));
  CHECK(result.exitCode == 0);
  CHECK(result.stdoutText == "out\nmore out");
  CHECK(result.stderrText == "err\nx");
  CHECK_FALSE(result.stdoutTruncated);
  CHECK_FALSE(result.stderrTruncated);
  CHECK(result.durationMs >= 0);
}

TEST_CASE("tool: stdin is /dev/null", "[tool]") {
  TempDir dir;
  ToolResult result = runOk(invocation("cat; echo end", dir.path()));
  CHECK(result.stdoutText == "end\n");
}

TEST_CASE("tool: output is capped per stream", "[tool]") {
  TempDir dir;
  ToolInvocation inv =
      invocation("printf 0123456789ABCDEF; printf xyz >&2; exit 4", dir.path());
  inv.outputCap = 10;
  ToolResult result = runOk(inv);
  CHECK(result.exitCode == 4);
  CHECK(result.stdoutText == "0123456789");
  CHECK(result.stdoutTruncated);
  CHECK(result.stderrText == "xyz");
  CHECK_FALSE(result.stderrTruncated);
}

TEST_CASE("tool: 10 MB on both streams neither hangs nor overflows", "[tool]") {
  TempDir dir;
  ToolInvocation inv =
      invocation("head -c 10000000 /dev/zero | tr '\\0' a; "
                 "head -c 10000000 /dev/zero | tr '\\0' b >&2; echo done",
                 dir.path());
  inv.outputCap = 1 << 20;
  auto start = std::chrono::steady_clock::now();
  ToolResult result = runOk(inv);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.exitCode == 0);
  CHECK(result.stdoutText.size() == size_t(1 << 20));
  CHECK(result.stderrText.size() == size_t(1 << 20));
  CHECK(result.stdoutText.find_first_not_of('a') == std::string::npos);
  CHECK(result.stderrText.find_first_not_of('b') == std::string::npos);
  CHECK(result.stdoutTruncated);
  CHECK(result.stderrTruncated);
  CHECK_FALSE(result.timedOut);
  CHECK(took < std::chrono::seconds(15));

  // Without a cap-sized stream the full output arrives intact.
  ToolInvocation whole =
      invocation("head -c 3000000 /dev/zero | tr '\\0' c", dir.path());
  whole.outputCap = 4 << 20;
  ToolResult all = runOk(whole);
  CHECK(all.stdoutText.size() == 3000000);
  CHECK_FALSE(all.stdoutTruncated);
}

TEST_CASE("tool: a timeout kills the whole process group", "[tool]") {
  TempDir dir;
  ToolInvocation inv = invocation(
      "sleep 100 & echo $! > grandchild.pid; echo started; sleep 100",
      dir.path());
  inv.timeoutMs = 300;
  auto start = std::chrono::steady_clock::now();
  ToolResult result = runOk(inv);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.timedOut);
  CHECK(result.exitCode == -1);
  CHECK(result.signal != 0);
  CHECK(result.stdoutText == "started\n");
  CHECK(result.durationMs >= 300);
  CHECK(took < std::chrono::seconds(5));
  pid_t grandchild = readPid(dir / "grandchild.pid");
  REQUIRE(grandchild > 0);
  CHECK(processGone(grandchild));
}

TEST_CASE("tool: a group that ignores SIGTERM gets SIGKILL", "[tool]") {
  TempDir dir;
  ToolInvocation inv =
      invocation("trap '' TERM; sleep 100; sleep 100", dir.path());
  inv.timeoutMs = 200;
  auto start = std::chrono::steady_clock::now();
  ToolResult result = runOk(inv);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.timedOut);
  CHECK(result.signal == SIGKILL);
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("tool: background leftovers do not keep a run alive", "[tool]") {
  TempDir dir;
  // The background sleep holds the pipes; the command itself exits at once.
  ToolInvocation inv =
      invocation("sleep 100 & echo $! > bg.pid; echo done", dir.path());
  auto start = std::chrono::steady_clock::now();
  ToolResult result = runOk(inv);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.exitCode == 0);
  CHECK_FALSE(result.timedOut);
  CHECK(result.stdoutText == "done\n");
  CHECK(took < std::chrono::seconds(5));
  pid_t bg = readPid(dir / "bg.pid");
  REQUIRE(bg > 0);
  CHECK(processGone(bg));
}

TEST_CASE("tool: a descendant in another session cannot hang the run",
          "[tool]") {
  TempDir dir;
  // setsid puts the sleep out of reach of the group kill; it still holds
  // the pipes, so the runner has to stop reading on its own.
  ToolInvocation inv = invocation(
      "setsid sleep 100 & echo $! > escaped.pid; echo done", dir.path());
  auto start = std::chrono::steady_clock::now();
  ToolResult result = runOk(inv);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result.exitCode == 0);
  CHECK(result.stdoutText == "done\n");
  CHECK(took < std::chrono::seconds(5));
  pid_t escaped = readPid(dir / "escaped.pid");
  if (escaped > 0)
    ::kill(escaped, SIGKILL); // Ours: the test started it.
}

TEST_CASE("tool: the environment is exactly the allowlist", "[tool]") {
  TempDir dir;
  ::setenv("ITERC_TOOL_TEST_SECRET", "leaked", 1);
  ToolInvocation inv = invocation(
      "echo \"foo=$FOO\"; echo \"secret=${ITERC_TOOL_TEST_SECRET-unset}\"; "
      "echo \"home=${HOME-unset}\"; echo \"spaced=$SPACED\"",
      dir.path());
  inv.env.push_back({"FOO", "bar"});
  inv.env.push_back({"SPACED", "a b=c"});
  ToolResult result = runOk(inv);
  ::unsetenv("ITERC_TOOL_TEST_SECRET");
  CHECK(result.stdoutText ==
        "foo=bar\nsecret=unset\nhome=unset\nspaced=a b=c\n");

  // `env` lists nothing beyond what was passed (the shell may add PWD).
  ToolInvocation listing = invocation("env", dir.path());
  listing.env = {{"ONLY", "1"}};
  std::string envText = runOk(listing).stdoutText;
  std::istringstream lines(envText);
  std::string line;
  while (std::getline(lines, line)) {
    std::string key = line.substr(0, line.find('='));
    CHECK((key == "ONLY" || key == "PWD" || key == "SHLVL" || key == "_"));
  }
  CHECK(envText.find("ONLY=1\n") != std::string::npos);
}

TEST_CASE("tool: commands run in the working directory", "[tool]") {
  TempDir dir;
  ToolResult result =
      runOk(invocation("pwd -P; echo hi > made.txt", dir.path()));
  CHECK(result.stdoutText == dir.path() + "\n");
  CHECK(readText(dir / "made.txt") == "hi\n");
}

TEST_CASE("tool: a missing working directory is an error", "[tool]") {
  TempDir dir;
  Expected<ToolResult> result =
      makeProcessRunner()->run(invocation("true", dir / "missing"));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::Tool);
  CHECK(result.error().message.find(dir / "missing") != std::string::npos);

  std::ofstream(dir / "file") << "x";
  Expected<ToolResult> notDir =
      makeProcessRunner()->run(invocation("true", dir / "file"));
  REQUIRE_FALSE(notDir.ok());
  CHECK(notDir.error().code == ErrorCode::Tool);
}

TEST_CASE("tool: interpreters run the command as a script", "[tool]") {
  TempDir dir;
  SECTION("sh") {
    ToolInvocation inv = invocation("x=1\nif [ $x = 1 ]; then\n  echo "
                                    "one\nfi\necho \"$0\" > script.path",
                                    dir.path());
    inv.interpreter = "sh";
    ToolResult result = runOk(inv);
    CHECK(result.stdoutText == "one\n");
    std::string script = readText(dir / "script.path");
    REQUIRE(!script.empty());
    script.pop_back();
    CHECK_FALSE(exists(script)); // The temporary script is removed.
  }
  SECTION("bash") {
    ToolInvocation inv = invocation(
        "arr=(a b c)\necho \"${#arr[@]} ${BASH_VERSION:+bash}\"", dir.path());
    inv.interpreter = "bash";
    CHECK(runOk(inv).stdoutText == "3 bash\n");
  }
  SECTION("python3") {
    ToolInvocation probe = invocation("command -v python3", dir.path());
    if (runOk(probe).exitCode != 0) {
      WARN("python3 not found on /usr/bin:/bin; skipping");
      return;
    }
    ToolInvocation inv =
        invocation("import os, sys\nprint('py', os.getcwd())\n"
                   "sys.stderr.write('quote \\' ok\\n')\nsys.exit(5)\n",
                   dir.path());
    inv.interpreter = "python3";
    ToolResult result = runOk(inv);
    CHECK(result.exitCode == 5);
    CHECK(result.stdoutText == "py " + dir.path() + "\n");
    CHECK(result.stderrText == "quote ' ok\n");
  }
  SECTION("interpreter with arguments") {
    ToolInvocation inv =
        invocation("echo before\nfalse\necho after", dir.path());
    inv.interpreter = "sh -e";
    ToolResult result = runOk(inv);
    CHECK(result.exitCode == 1);
    CHECK(result.stdoutText == "before\n");
  }
  SECTION("unknown interpreter") {
    ToolInvocation inv = invocation("print(1)", dir.path());
    inv.interpreter = "no-such-interpreter-iterc";
    Expected<ToolResult> result = makeProcessRunner()->run(inv);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::Tool);
    CHECK(result.error().message.find("no-such-interpreter-iterc") !=
          std::string::npos);
  }
}

TEST_CASE("tool: eight tools run concurrently", "[tool]") {
  TempDir dir;
  constexpr int count = 8;
  std::vector<std::thread> threads;
  std::vector<ToolResult> results(count);
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i)
    threads.emplace_back([&, i] {
      ToolInvocation inv =
          invocation("echo \"out $ID\"; sleep 0.3; echo \"err $ID\" >&2; "
                     "head -c 200000 /dev/zero | tr '\\0' x; exit $ID",
                     dir.path());
      inv.env.push_back({"ID", std::to_string(i)});
      Expected<ToolResult> result = makeProcessRunner()->run(inv);
      if (!result)
        ++failures;
      else
        results[i] = *result;
    });
  for (std::thread &t : threads)
    t.join();
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(failures == 0);
  for (int i = 0; i < count; ++i) {
    CHECK(results[i].exitCode == i);
    CHECK(results[i].stdoutText ==
          "out " + std::to_string(i) + "\n" + std::string(200000, 'x'));
    CHECK(results[i].stderrText == "err " + std::to_string(i) + "\n");
  }
  CHECK(took < std::chrono::milliseconds(2000)); // Not 8 x 0.3 s in series.
}

TEST_CASE("tool: shellQuote survives /bin/sh", "[tool]") {
  TempDir dir;
  CHECK(shellQuote("") == "''");
  CHECK(shellQuote("it's") == "'it'\\''s'");
  const std::vector<std::string> nasty = {
      "",
      "plain",
      "with space  and\ttab",
      "it's",
      "''",
      "'",
      "\"double\" \\\" quotes",
      "$(echo pwned)",
      "`echo pwned`",
      "${HOME} $PATH $$ $0 $1",
      "line1\nline2\n",
      "\n",
      "; rm -rf / #",
      "a && b || c | d > e < f & g",
      "*?[a-z]~",
      "-n",
      "back\\slash\\",
      "!history",
      std::string("\xff\xfe high bytes \x01\x7f"),
      "mixed 'single' and \"double\" and $(sub) and `tick`\n",
  };
  for (const std::string &value : nasty) {
    ToolInvocation inv =
        invocation("printf '%s' " + shellQuote(value), dir.path());
    ToolResult result = runOk(inv);
    INFO("value: " << value);
    CHECK(result.exitCode == 0);
    CHECK(result.stdoutText == value);
  }
  // Two quoted words stay two words.
  ToolResult words = runOk(invocation("set -- " + shellQuote("a b") + " " +
                                          shellQuote("") + "; echo $#",
                                      dir.path()));
  CHECK(words.stdoutText == "2\n");
}

TEST_CASE("workspace: files are written with their directories", "[tool]") {
  TempDir dir;
  REQUIRE(writeWorkspaceFile(dir.path(), "a.txt", "one").ok());
  CHECK(readText(dir / "a.txt") == "one");
  REQUIRE(writeWorkspaceFile(dir.path(), "src/deep/er/b.cpp", "int x;\n").ok());
  CHECK(readText(dir / "src/deep/er/b.cpp") == "int x;\n");
  // Overwrite truncates.
  REQUIRE(writeWorkspaceFile(dir.path(), "src/deep/er/b.cpp", "y").ok());
  CHECK(readText(dir / "src/deep/er/b.cpp") == "y");
  // "." and empty components are harmless; backslashes are literal.
  REQUIRE(writeWorkspaceFile(dir.path(), "./c//d.txt", "d").ok());
  CHECK(readText(dir / "c/d.txt") == "d");
  REQUIRE(writeWorkspaceFile(dir.path(), "back\\slash", "b").ok());
  CHECK(readText(dir / "back\\slash") == "b");
  // Empty content and binary content.
  REQUIRE(writeWorkspaceFile(dir.path(), "empty", "").ok());
  CHECK(exists(dir / "empty"));
  std::string binary("a\0b\xff", 4);
  REQUIRE(writeWorkspaceFile(dir.path(), "bin", binary).ok());
  CHECK(readText(dir / "bin") == binary);
  struct stat st;
  REQUIRE(::stat((dir / "src/deep").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
}

TEST_CASE("workspace: escapes are refused", "[tool]") {
  TempDir root;
  std::string workspace = root / "ws";
  std::string outside = root / "outside";
  REQUIRE(::mkdir(workspace.c_str(), 0755) == 0);
  REQUIRE(::mkdir(outside.c_str(), 0755) == 0);

  auto refused = [&](const std::string &path) {
    Status status = writeWorkspaceFile(workspace, path, "pwned");
    INFO("path: " << path);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::WorkspaceEscape);
    if (!path.empty() && path.find('\0') == std::string::npos)
      CHECK(status.error().message.find(path) != std::string::npos);
  };
  refused("");
  refused(outside + "/abs.txt");
  refused("/etc/passwd-iterc");
  refused("../outside/up.txt");
  refused("a/../../outside/up.txt");
  refused("a/..");
  refused("..");
  refused(std::string("nul\0byte", 8));
  refused("dir/");
  // Git metadata (generated files included), whatever the case.
  refused(".git/config");
  refused(".Git/hooks/pre-commit");
  refused("sub/.GIT/config");
  refused(".git");
  CHECK(::access((workspace + "/.git").c_str(), F_OK) != 0);
  CHECK(::access((workspace + "/sub").c_str(), F_OK) != 0);

  // A symlinked directory anywhere on the way.
  REQUIRE(::symlink(outside.c_str(), (workspace + "/link").c_str()) == 0);
  refused("link/x.txt");
  REQUIRE(::mkdir((workspace + "/real").c_str(), 0755) == 0);
  REQUIRE(::symlink(outside.c_str(), (workspace + "/real/inner").c_str()) == 0);
  refused("real/inner/deeper/x.txt");

  // A symlinked final file, pointing at an existing and a missing target.
  std::string target = outside + "/target.txt";
  std::ofstream(target) << "original";
  REQUIRE(::symlink(target.c_str(), (workspace + "/file.txt").c_str()) == 0);
  refused("file.txt");
  REQUIRE(::symlink((outside + "/new.txt").c_str(),
                    (workspace + "/dangling.txt").c_str()) == 0);
  refused("dangling.txt");

  // A hard link to a file outside.
  REQUIRE(::link(target.c_str(), (workspace + "/hard.txt").c_str()) == 0);
  refused("hard.txt");

  // Nothing was written outside.
  CHECK(readText(target) == "original");
  CHECK_FALSE(exists(outside + "/new.txt"));
  CHECK_FALSE(exists(outside + "/x.txt"));
  CHECK_FALSE(exists(outside + "/deeper"));
  CHECK_FALSE(exists(outside + "/abs.txt"));
  CHECK_FALSE(exists(root / "up.txt"));
  CHECK_FALSE(exists(outside + "/up.txt"));
}

TEST_CASE("workspace: I/O failures are Store errors", "[tool]") {
  TempDir dir;
  Status missing = writeWorkspaceFile(dir / "no-such-workspace", "a.txt", "x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::Store);

  std::ofstream(dir / "plain") << "x";
  Status throughFile = writeWorkspaceFile(dir.path(), "plain/a.txt", "x");
  REQUIRE_FALSE(throughFile.ok());
  CHECK(throughFile.error().code == ErrorCode::Store);

  REQUIRE(::mkdir((dir / "adir").c_str(), 0755) == 0);
  Status ontoDir = writeWorkspaceFile(dir.path(), "adir", "x");
  REQUIRE_FALSE(ontoDir.ok());
  CHECK(ontoDir.error().code == ErrorCode::Store);

  // A FIFO at the path neither blocks nor is written to.
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0644) == 0);
  Status fifo = writeWorkspaceFile(dir.path(), "fifo", "x");
  REQUIRE_FALSE(fifo.ok());
  CHECK(fifo.error().code == ErrorCode::Store);
}

TEST_CASE("tool: runs leak no descriptors", "[tool]") {
  TempDir dir;
  // The descriptors open in this process (other than the one listing
  // them). A leak is a descriptor after the runs that was not open before;
  // one the test harness closes meanwhile is not.
  auto openFds = [] {
    std::set<std::string> fds;
    DIR *d = ::opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    std::string self = std::to_string(::dirfd(d));
    while (struct dirent *e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != ".." && name != self)
        fds.insert(name);
    }
    ::closedir(d);
    return fds;
  };
  std::set<std::string> before = openFds();
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  for (int i = 0; i < 20; ++i) {
    ToolInvocation inv = invocation("echo $$; echo x >&2", dir.path());
    if (i % 4 == 1) {
      inv.command = "sleep 5";
      inv.timeoutMs = 10;
    } else if (i % 4 == 2) {
      inv.interpreter = "sh";
    } else if (i % 4 == 3) {
      inv.workdir = dir / "missing";
    }
    Expected<ToolResult> result = runner->run(inv);
    CHECK(result.ok() == (i % 4 != 3));
  }
  std::set<std::string> leaked;
  for (const std::string &fd : openFds())
    if (!before.count(fd))
      leaked.insert(fd);
  CHECK(leaked.empty());
}
