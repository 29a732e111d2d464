//===- CrashTest.cpp - kill -9 at any point, then resume ------------------===//
//
// A child process runs a looping workflow on the file store and is killed
// with SIGKILL at a random moment, several times; the parent then resumes
// the run to the end. Every trial must finish with exactly the outputs of
// an uninterrupted run, a gap-free event log, and no completed model call
// made twice (only a call in flight at a kill may be repeated).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Engine.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// Replies are a pure function of the request, so a resumed process
/// answers exactly as the killed one would have. Every call is appended to
/// a log file before it returns.
class DeterministicProvider : public LlmProvider {
public:
  explicit DeterministicProvider(std::string callLog)
      : callLog(std::move(callLog)) {}

  Expected<LlmResponse> complete(const LlmRequest &request) override {
    std::string system = request.messages.front().content;
    std::string user = request.messages.back().content;
    LlmResponse r;
    if (system == "node:writer") {
      // The user prompt carries the loop iteration.
      r.text = Json{{"text", "draft " + user}}.dump();
    } else {
      bool pass = user.find("draft 4") != std::string::npos;
      r.text = Json{{"pass", pass}, {"notes", "round " + user}}.dump();
    }
    r.usage.inputTokens = 7;
    r.usage.outputTokens = 3;
    // A little latency so that kills land inside calls too.
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    int fd = ::open(callLog.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::string line = system + "\n";
    if (fd >= 0) {
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    return r;
  }

private:
  std::string callLog;
};

WorkflowDesc loopingWorkflow() {
  WorkflowDesc wf;
  wf.name = "crash";
  wf.sourceSha256 = "crash-test";
  SchemaDesc draft;
  draft.name = "draft";
  draft.fields.push_back({"text", FieldType::String, {}});
  SchemaDesc verdict;
  verdict.name = "verdict";
  verdict.fields.push_back({"pass", FieldType::Bool, {}});
  verdict.fields.push_back({"notes", FieldType::String, {}});
  wf.schemas = {draft, verdict};

  NodeDesc writer;
  writer.name = "writer";
  writer.model = "replay/m";
  writer.output = 0;
  writer.system.parts.push_back({"node:writer", std::nullopt});
  TemplatePart iteration;
  iteration.ref = TemplateRef{RefNs::Loop, {"refine", "iteration"}, false};
  writer.user.parts.push_back(iteration);
  writer.publish = "draft";
  NodeDesc critic;
  critic.kind = NodeKind::Judge;
  critic.name = "critic";
  critic.model = "replay/m";
  critic.output = 1;
  critic.system.parts.push_back({"node:critic", std::nullopt});
  TemplatePart text;
  text.ref = TemplateRef{RefNs::Input, {"text"}, false};
  critic.user.parts.push_back(text);
  wf.nodes = {writer, critic};
  addTerminals(wf);

  EdgeDesc toCritic;
  toCritic.from = 0;
  toCritic.to = 1;
  TemplatePart mapped;
  mapped.ref = TemplateRef{RefNs::Outputs, {"writer", "text"}, false};
  Template t;
  t.parts.push_back(mapped);
  toCritic.with.push_back({"text", t});
  EdgeDesc done;
  done.from = 1;
  done.to = wf.doneIndex();
  done.cond = EdgeDesc::Cond::Field;
  done.field = "pass";
  EdgeDesc back;
  back.from = 1;
  back.to = 0;
  back.cond = EdgeDesc::Cond::Field;
  back.field = "pass";
  back.negated = true;
  back.loop = 0;
  wf.edges = {toCritic, done, back};
  LoopDesc loop;
  loop.name = "refine";
  loop.cap = 10;
  loop.body = {0, 1};
  loop.entries = {0};
  wf.loops = {loop};
  return wf;
}

std::string makeTempDir() {
  char tmpl[] = "/tmp/iterc-crash-XXXXXX";
  char *dir = ::mkdtemp(tmpl);
  REQUIRE(dir);
  return dir;
}

size_t countLines(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "r");
  if (!f)
    return 0;
  size_t n = 0;
  for (int c; (c = std::fgetc(f)) != EOF;)
    n += c == '\n';
  std::fclose(f);
  return n;
}

/// Runs (or resumes) the workflow to its end in this process.
RunResult runToEnd(const WorkflowDesc &wf, const std::string &root,
                   const std::string &callLog) {
  std::unique_ptr<RunStore> store = makeFileStore(root);
  DeterministicProvider provider(callLog);
  ProviderSet providers;
  providers.setOverride(&provider);
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &providers;
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "crash-run";
  if (!store->loadRun("crash-run"))
    return engine.run(options);
  return engine.resume("crash-run", Json(), options);
}

} // namespace

TEST_CASE("kill -9 at random points, then resume: same outputs, no repeated "
          "calls",
          "[engine][crash]") {
  WorkflowDesc wf = loopingWorkflow();

  std::string refRoot = makeTempDir();
  std::string refCalls = refRoot + "/calls.log";
  RunResult reference = runToEnd(wf, refRoot, refCalls);
  REQUIRE(reference.status == RunStatus::Finished);
  size_t referenceCalls = countLines(refCalls);
  REQUIRE(referenceCalls == 10);  // 5 writer + 5 critic calls
  std::system(("rm -rf " + refRoot).c_str());

  std::mt19937 rng(12345);
  const int trials = 12;
  for (int trial = 0; trial < trials; ++trial) {
    std::string root = makeTempDir();
    std::string calls = root + "/calls.log";
    int kills = 0;
    for (int k = 0; k < 3; ++k) {
      pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        RunResult r = runToEnd(wf, root, calls);
        ::_exit(r.status == RunStatus::Finished ? 0 : 3);
      }
      std::uniform_int_distribution<int> delay(0, 6000);
      std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ++kills;
      }
      ::waitpid(pid, &status, 0);
    }
    RunResult final = runToEnd(wf, root, calls);
    INFO("trial " << trial << ", kills " << kills << ": "
                  << (final.error ? final.error->message : std::string()));
    REQUIRE(final.status == RunStatus::Finished);
    CHECK(final.outputs["writer"]["text"] == reference.outputs["writer"]["text"]);
    CHECK(final.outputs["critic"] == reference.outputs["critic"]);
    // Only a call in flight at a kill may have been made twice.
    size_t made = countLines(calls);
    CHECK(made >= referenceCalls);
    CHECK(made <= referenceCalls + size_t(kills));

    std::unique_ptr<RunStore> store = makeFileStore(root);
    Expected<std::vector<Event>> events = store->loadEvents("crash-run");
    REQUIRE(events);
    for (size_t i = 0; i < events->size(); ++i)
      CHECK((*events)[i].seq == int64_t(i));
    // Every model response was recorded exactly once.
    size_t responses = 0;
    std::string sequence;
    for (const Event &e : *events) {
      responses += e.type == "llm_response";
      sequence += e.type + ":" + e.nodeId + " ";
    }
    INFO(sequence);
    CHECK(responses == referenceCalls);
    std::system(("rm -rf " + root).c_str());
  }
}
