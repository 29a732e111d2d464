//===- ToolWorkdirTest.cpp - A tool node's workdir stays in the workspace -===//
//
// This file tests that the `workdir` of a tool node is confined to the run's
// workspace at run time: the engine opens it one component at a time from
// the workspace, refusing symlinks, `..` and absolute paths, and the command
// starts in the directory so opened. Real processes, a real workspace, and a
// canary the command writes in its working directory.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Engine.h"

#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;

namespace {

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

/// Runs one tool node that writes `canary` in its working directory.
RunResult runInWorkdir(const std::string &workspace,
                       const std::string &workdir) {
  WorkflowDesc wf;
  wf.name = "w";
  wf.sourceSha256 = "h";
  NodeDesc tool;
  tool.kind = NodeKind::Tool;
  tool.name = "t";
  tool.command = text("touch canary && pwd");
  tool.workdir = workdir;
  wf.nodes.push_back(tool);
  addTerminals(wf);
  wf.edges.push_back(iterc::rt::test::edge(0, wf.doneIndex()));
  std::unique_ptr<RunStore> store = makeMemoryStore();
  std::unique_ptr<ToolRunner> runner = makeProcessRunner();
  EngineDeps deps;
  deps.store = store.get();
  deps.tools = runner.get();
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = workspace;
  return engine.run(options);
}

} // namespace

TEST_CASE("a tool runs in its workdir inside the workspace",
          "[tool][workdir]") {
  TempDir ws;
  REQUIRE(::mkdir((ws / "src").c_str(), 0755) == 0);
  REQUIRE(::mkdir((ws / "src/app").c_str(), 0755) == 0);
  RunResult r = runInWorkdir(ws.path(), "src/./app/");
  INFO((r.error ? r.error->message : ""));
  REQUIRE(r.status == RunStatus::Finished);
  CHECK(exists(ws / "src/app/canary"));
  CHECK(r.outputs["t"]["result"] == ws / "src/app");

  RunResult missing = runInWorkdir(ws.path(), "nowhere");
  REQUIRE(missing.error);
  CHECK(missing.error->message.find("nowhere") != std::string::npos);
}

TEST_CASE("a tool's workdir cannot leave the workspace", "[tool][workdir]") {
  TempDir ws;
  TempDir outside;
  REQUIRE(::mkdir((ws / "src").c_str(), 0755) == 0);
  REQUIRE(::symlink(outside.path().c_str(), (ws / "out").c_str()) == 0);
  REQUIRE(::symlink(outside.path().c_str(), (ws / "src/deep").c_str()) == 0);
  REQUIRE(::symlink("..", (ws / "src/up").c_str()) == 0);
  for (const char *workdir :
       {"out", "src/deep", "src/up", "src/up/out", "..", "src/../..", "/tmp"}) {
    INFO(workdir);
    RunResult r = runInWorkdir(ws.path(), workdir);
    CHECK(r.status != RunStatus::Finished);
    REQUIRE(r.error);
    CHECK(r.error->code == ErrorCode::WorkspaceEscape);
    CHECK(!exists(outside / "canary"));
    CHECK(!exists(ws / "canary"));
  }
}
