//===- ToolOutputCapTest.cpp - A tool's output cap is said, and settable --===//
//
// A tool's stdout and stderr are each kept up to a cap (1 MiB unless the
// node's `max_output` says otherwise); what is cut is marked in the tool's
// output object, with the number of bytes the tool wrote, never dropped
// silently. Real processes printing 2 MiB.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/Engine.h"
#include "iterc/rt/Tool.h"

#include <catch2/catch.hpp>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;

namespace {

constexpr size_t MiB = size_t(1) << 20;

/// Prints 2 MiB of 'a' to stdout and "small" to stderr.
const std::string twoMiB =
    "head -c 2097152 /dev/zero | tr '\\0' a; echo small >&2";

/// big (tool, captured, printing 2 MiB) -> done; `maxOutput` 0: no
/// max_output.
Json runBig(size_t maxOutput) {
  TempDir dir;
  WorkflowDesc wf;
  wf.name = "big";
  wf.sourceSha256 = "big-1";
  NodeDesc big;
  big.kind = NodeKind::Tool;
  big.name = "big";
  big.capture = true;
  big.command = text(twoMiB);
  big.maxOutputBytes = maxOutput;
  wf.nodes.push_back(big);
  addTerminals(wf);
  wf.edges.push_back(edge(0, wf.doneIndex()));
  std::unique_ptr<RunStore> store = makeMemoryStore();
  std::unique_ptr<ToolRunner> tools = makeProcessRunner();
  EngineDeps deps;
  deps.store = store.get();
  deps.tools = tools.get();
  Engine engine(wf, deps);
  RunOptions options;
  options.workspace = dir.path();
  RunResult r = engine.run(options);
  INFO((r.error ? r.error->message : ""));
  REQUIRE(r.status == RunStatus::Finished);
  return r.outputs["big"];
}

} // namespace

TEST_CASE("tool output cap: the runner counts what it cut", "[tool][cap]") {
  TempDir dir;
  ToolInvocation inv;
  inv.command = twoMiB;
  inv.workdir = dir.path();
  inv.env = {{"PATH", "/usr/bin:/bin"}};
  Expected<ToolResult> cut = makeProcessRunner()->run(inv);
  REQUIRE(cut);
  CHECK(cut->stdoutText.size() == MiB);
  CHECK(cut->stdoutTruncated);
  CHECK(cut->stdoutBytes == 2 * MiB);
  CHECK(!cut->stderrTruncated);
  CHECK(cut->stderrBytes == 6);

  inv.outputCap = 4 * MiB;
  Expected<ToolResult> whole = makeProcessRunner()->run(inv);
  REQUIRE(whole);
  CHECK(whole->stdoutText.size() == 2 * MiB);
  CHECK(!whole->stdoutTruncated);
  CHECK(whole->stdoutBytes == 2 * MiB);
}

TEST_CASE("tool output cap: the output object marks a cut stream with its "
          "size, and max_output raises the cap",
          "[tool][cap][engine]") {
  Json cut = runBig(0);
  CHECK(cut["stdout"].get<std::string>().size() == MiB);
  CHECK(cut.value("stdout_truncated", false) == true);
  CHECK(cut.value("stdout_bytes", int64_t(0)) == int64_t(2 * MiB));
  CHECK(cut.value("stderr_truncated", true) == false);
  CHECK(cut.value("stderr_bytes", int64_t(0)) == 6);

  Json whole = runBig(4 * MiB);
  CHECK(whole["stdout"].get<std::string>().size() == 2 * MiB);
  CHECK(whole.value("stdout_truncated", true) == false);
  CHECK(whole.value("stdout_bytes", int64_t(0)) == int64_t(2 * MiB));
}
