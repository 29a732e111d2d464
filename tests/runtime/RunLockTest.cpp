//===- RunLockTest.cpp - One process at a time per run --------------------===//
//
// Two processes on one run: while one runs it, a `resume` or a `run` with
// its id from another process fails at once with exit 8 naming the holder,
// the tool step is made once, and the log keeps one run_finished and
// increasing seq numbers. The lock itself: busy while held, free again
// when its holder is destroyed or killed.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/RunLock.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::TempDir;

namespace {

const AppInfo &lockInfo() {
  static const AppInfo info{"locked", "locked.iter", "", ""};
  return info;
}

struct Cli {
  int code = -1;
  std::string out, err;
};

Cli cli(const WorkflowDesc &wf, std::vector<std::string> args) {
  std::ostringstream out, err;
  Cli r;
  r.code = appMain(wf, lockInfo(), args, AppIo{out, err, false, "./locked"});
  r.out = out.str();
  r.err = err.str();
  return r;
}

bool exists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

size_t lineCount(const std::string &path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

/// step (tool: notes its start in `counter`, sleeps, prints {"ok":true})
/// -> done.
WorkflowDesc slowToolWf(const std::string &counter) {
  WorkflowDesc wf;
  wf.name = "locked";
  wf.sourceSha256 = "lock-1";
  wf.itercVersion = "0.1.0";
  NodeDesc step;
  step.kind = NodeKind::Tool;
  step.name = "step";
  step.command.parts.push_back({"echo started >> " + shellQuote(counter) +
                                    "; /bin/sleep 1.5; echo '{\"ok\": true}'",
                                std::nullopt});
  wf.nodes.push_back(step);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  return wf;
}

} // namespace

TEST_CASE("run lock: another process's resume or run of a busy run exits 8 "
          "at once; the step runs once and the log stays consistent",
          "[app][lock][durable]") {
  TempDir tmp;
  std::string store = tmp / "store";
  std::string counter = tmp / "started";
  WorkflowDesc wf = slowToolWf(counter);

  pid_t holder = ::fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    Cli r = cli(wf, {"run", "--store-dir", store, "--run-id", "r",
                     "--workspace", tmp.path()});
    ::_exit(r.code);
  }
  // The holder is inside the tool step.
  for (int i = 0; i < 500 && !exists(counter); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(exists(counter));

  auto started = std::chrono::steady_clock::now();
  Cli resumed = cli(wf, {"resume", "--store-dir", store, "--run-id", "r"});
  Cli rerun = cli(wf, {"run", "--store-dir", store, "--run-id", "r",
                       "--workspace", tmp.path()});
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  INFO("resume: " << resumed.code << " " << resumed.out << resumed.err);
  INFO("run: " << rerun.code << " " << rerun.out << rerun.err);
  CHECK(resumed.code == ExitRunInUse);
  CHECK(contains(resumed.err, "run 'r' is in use by another process (pid " +
                                  std::to_string(holder) + ")"));
  CHECK(rerun.code == ExitRunInUse);
  CHECK(contains(rerun.err, "in use"));
  CHECK(elapsed < 1000); // Failed fast, without waiting for the holder.

  int status = 0;
  REQUIRE(::waitpid(holder, &status, 0) == holder);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(lineCount(counter) == 1); // The step ran once.

  std::unique_ptr<RunStore> files = makeFileStore(store);
  Expected<std::vector<Event>> events = files->loadEvents("r");
  REQUIRE(events);
  size_t finished = 0;
  for (size_t i = 0; i < events->size(); ++i) {
    CHECK((*events)[i].seq == int64_t(i));
    finished += (*events)[i].type == "run_finished";
  }
  CHECK(finished == 1);

  // The holder is gone: the run is free again.
  Cli after = cli(wf, {"resume", "--store-dir", store, "--run-id", "r"});
  INFO(after.err);
  CHECK(after.code == 0);
  CHECK(lineCount(counter) == 1);
}

TEST_CASE("run lock: busy while held, free when released or its holder is "
          "killed",
          "[lock][durable]") {
  TempDir tmp;
  {
    RunLock first = RunLock::acquire(tmp.path(), "r");
    REQUIRE(first.held());
    RunLock second = RunLock::acquire(tmp.path(), "r");
    CHECK(!second.held());
    CHECK(second.busy());
    CHECK(second.holder() == long(::getpid()));
    RunLock other = RunLock::acquire(tmp.path(), "another");
    CHECK(other.held());
  }
  RunLock again = RunLock::acquire(tmp.path(), "r");
  CHECK(again.held());
  again = RunLock();

  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    RunLock held = RunLock::acquire(tmp.path(), "r");
    char c = held.held() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  RunLock whileHeld = RunLock::acquire(tmp.path(), "r");
  CHECK(whileHeld.busy());
  CHECK(whileHeld.holder() == long(child));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  RunLock afterKill = RunLock::acquire(tmp.path(), "r");
  CHECK(afterKill.held());
  ::close(ready[0]);
  ::close(ready[1]);

  RunLock bad = RunLock::acquire(tmp.path(), "../escape");
  CHECK(!bad.held());
  CHECK(!bad.busy());
  REQUIRE(bad.error());
}
