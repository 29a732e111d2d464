//===- StoreFailureTest.cpp - A full disk never reports success -----------===//
//
// A failed write, fsync or rename of the file store must end the run
// resumable with the store's error, never `finished`, and a resume after
// space is freed must finish making only the model calls whose replies were
// not recorded. The failure is injected at every write of a run in turn
// (the file store's fault hook), and made real on a small tmpfs when the
// tests run as root.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "WorkflowTestUtil.h"

#include "iterc/rt/App.h"
#include "iterc/rt/Engine.h"
#include "iterc/rt/Scope.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/mount.h>
#include <unistd.h>

using namespace iterc::rt;
using iterc::rt::test::edge;
using iterc::rt::test::schema;
using iterc::rt::test::TempDir;
using iterc::rt::test::text;

namespace {

/// Replies `{"text": "<node> ..."}` (padded to `replyBytes`) and counts the
/// calls per node ("node:<name>" system prompts).
class CountingProvider : public LlmProvider {
public:
  explicit CountingProvider(size_t replyBytes = 0) : replyBytes(replyBytes) {}
  Expected<LlmResponse> complete(const LlmRequest &request) override {
    std::string node = request.messages.front().content.substr(5);
    std::lock_guard<std::mutex> lock(mutex);
    ++calls[node];
    LlmResponse r;
    r.text = Json{{"text", node + " " + std::string(replyBytes, 'x')}}.dump();
    r.usage.inputTokens = 3;
    r.usage.outputTokens = 2;
    return r;
  }
  size_t total() {
    std::lock_guard<std::mutex> lock(mutex);
    size_t n = 0;
    for (const auto &[node, count] : calls)
      n += count;
    return n;
  }

  std::map<std::string, size_t> calls;

private:
  size_t replyBytes;
  std::mutex mutex;
};

/// n0 -> n1 -> ... -> done, each an agent with output {text}.
WorkflowDesc chainWf(int nodes) {
  WorkflowDesc wf;
  wf.name = "chain";
  wf.sourceSha256 = "chain-1";
  wf.schemas.push_back(schema("out", {{"text", FieldType::String}}));
  for (int i = 0; i < nodes; ++i) {
    NodeDesc n;
    n.kind = NodeKind::Agent;
    n.name = "n" + std::to_string(i);
    n.model = "replay/m";
    n.output = 0;
    n.system = text("node:" + n.name);
    wf.nodes.push_back(n);
  }
  addTerminals(wf);
  for (int i = 0; i + 1 < nodes; ++i)
    wf.edges.push_back(edge(i, i + 1));
  wf.edges.push_back(edge(nodes - 1, wf.doneIndex()));
  return wf;
}

RunResult runOrResume(const WorkflowDesc &wf, RunStore &store,
                      LlmProvider &provider, bool resume) {
  ProviderSet providers;
  providers.setOverride(&provider);
  EngineDeps deps;
  deps.store = &store;
  deps.providers = &providers;
  Engine engine(wf, deps);
  RunOptions options;
  options.runId = "r";
  return resume ? engine.resume("r", Json(), options) : engine.run(options);
}

size_t countOf(const std::vector<Event> &events, const std::string &type) {
  size_t n = 0;
  for (const Event &e : events)
    n += e.type == type;
  return n;
}

/// A log that a finished run leaves: seq 0, 1, 2, ... and one run_finished,
/// last.
void checkFinishedLog(RunStore &store) {
  Expected<std::vector<Event>> events = store.loadEvents("r");
  REQUIRE(events);
  for (size_t i = 0; i < events->size(); ++i)
    CHECK((*events)[i].seq == int64_t(i));
  CHECK(countOf(*events, "run_finished") == 1);
  REQUIRE(!events->empty());
  CHECK(events->back().type == "run_finished");
  Expected<RunRecord> record = store.loadRun("r");
  REQUIRE(record);
  CHECK(record->status == RunStatus::Finished);
}

/// The llm_response events in the run's log (0 when it has none).
size_t recordedReplies(RunStore &store) {
  Expected<std::vector<Event>> events = store.loadEvents("r");
  return events ? countOf(*events, "llm_response") : 0;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("store failure: a failed write at any point of a run ends it "
          "resumable, never finished; resume makes each missing call once",
          "[store][durable]") {
  WorkflowDesc wf = chainWf(3);
  size_t writes = 0;
  {
    TempDir tmp;
    std::unique_ptr<RunStore> store = makeFileStore(
        tmp.path(), false, [&](std::string_view op, const std::string &) {
          writes += op == "write";
          return 0;
        });
    CountingProvider provider;
    RunResult clean = runOrResume(wf, *store, provider, false);
    REQUIRE(clean.status == RunStatus::Finished);
    REQUIRE(provider.total() == 3);
  }
  REQUIRE(writes > 10);

  for (size_t failAt = 1; failAt <= writes; ++failAt) {
    for (std::string_view failing : {"write", "rename"}) {
      INFO("the disk is full from " << failing << " number " << failAt);
      TempDir tmp;
      size_t seen = 0;
      // From the failAt-th such operation on, every one fails: a full disk.
      std::unique_ptr<RunStore> full = makeFileStore(
          tmp.path(), false, [&](std::string_view op, const std::string &) {
            return op == failing && ++seen >= failAt ? ENOSPC : 0;
          });
      CountingProvider provider;
      RunResult first = runOrResume(wf, *full, provider, false);
      INFO("first run: " << runStatusName(first.status) << " "
                         << (first.error ? first.error->message : ""));
      if (seen < failAt)
        continue; // The run made fewer such operations.
      CHECK(first.status != RunStatus::Finished);
      REQUIRE(first.error);
      CHECK(contains(first.error->message, std::strerror(ENOSPC)));

      // Space is freed; another process resumes.
      std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
      Expected<RunRecord> record = store->loadRun("r");
      if (!record) {
        // Not even run.json could be written: there is no run.
        CHECK(first.status == RunStatus::Failed);
        continue;
      }
      CHECK(record->status != RunStatus::Finished);
      size_t recorded = recordedReplies(*store);
      size_t before = provider.total();
      RunResult resumed = runOrResume(wf, *store, provider, true);
      INFO("resumed: " << (resumed.error ? resumed.error->message : ""));
      REQUIRE(resumed.status == RunStatus::Finished);
      // Recorded replies are replayed; each missing one is asked once.
      CHECK(provider.total() - before == 3 - recorded);
      CHECK(resumed.outputs["n2"]["text"] == "n2 ");
      checkFinishedLog(*store);
    }
  }
}

TEST_CASE("store failure: a failed fsync of a durable store stops the run",
          "[store][durable]") {
  WorkflowDesc wf = chainWf(3);
  TempDir tmp;
  size_t syncs = 0;
  std::unique_ptr<RunStore> store = makeFileStore(
      tmp.path(), true, [&](std::string_view op, const std::string &path) {
        // The fourth fsync of the event log fails (EIO: the disk is gone).
        bool log = path.size() >= 12 &&
                   path.compare(path.size() - 12, 12, "events.jsonl") == 0;
        return op == "fsync" && log && ++syncs == 4 ? EIO : 0;
      });
  CountingProvider provider;
  RunResult r = runOrResume(wf, *store, provider, false);
  CHECK(r.status == RunStatus::FailedResumable);
  REQUIRE(r.error);
  CHECK(contains(r.error->message, "cannot fsync"));
  CHECK(contains(r.error->message, "events.jsonl"));
  CHECK(provider.total() < 3); // Stopped before the rest of the run.
}

namespace {

/// A tmpfs of `size` mounted on a fresh directory while it lives; `ok()`
/// false (and `why`) when mounting is not possible here.
class SmallTmpfs {
public:
  explicit SmallTmpfs(const std::string &size) {
    if (::geteuid() != 0) {
      why = "not running as root";
      return;
    }
    std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, options.c_str()) !=
        0) {
      why = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
      return;
    }
    mounted = true;
  }
  ~SmallTmpfs() {
    if (mounted)
      ::umount2(dir.path().c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted; }
  bool grow(const std::string &size) {
    std::string options = "size=" + size + ",mode=0755";
    return ::mount("tmpfs", dir.path().c_str(), "tmpfs", MS_REMOUNT,
                   options.c_str()) == 0;
  }
  const std::string &path() const { return dir.path(); }
  std::string why;

private:
  TempDir dir;
  bool mounted = false;
};

/// Fills the filesystem of `dir` with a file until at most `leave` bytes
/// are free (tmpfs counts whole pages).
void fillUp(const std::string &file, size_t leave) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::string page(4096, 'f');
  size_t written = 0;
  for (ssize_t n; (n = ::write(fd, page.data(), page.size())) > 0;)
    written += size_t(n);
  ::close(fd);
  // Give back what is to be left.
  size_t keep = written > leave ? written - leave : 0;
  REQUIRE(::truncate(file.c_str(), off_t(keep)) == 0);
}

} // namespace

TEST_CASE("store failure: on a real full tmpfs the run stops resumable; "
          "after growing it, resume finishes",
          "[store][durable][tmpfs]") {
  SmallTmpfs fs("64k");
  if (!fs.ok()) {
    WARN("SKIPPED: " << fs.why);
    return;
  }
  // 12 nodes with 6 KB replies: about 150 KB of events, on 64 KB.
  WorkflowDesc wf = chainWf(12);
  CountingProvider provider(6000);
  {
    std::unique_ptr<RunStore> store = makeFileStore(fs.path());
    RunResult first = runOrResume(wf, *store, provider, false);
    INFO((first.error ? first.error->message : ""));
    CHECK(first.status == RunStatus::FailedResumable);
    REQUIRE(first.error);
    CHECK(contains(first.error->message, std::strerror(ENOSPC)));
  }
  REQUIRE(fs.grow("4m"));
  std::unique_ptr<RunStore> store = makeFileStore(fs.path());
  size_t recorded = recordedReplies(*store);
  CHECK(recorded > 0);
  size_t before = provider.total();
  RunResult resumed = runOrResume(wf, *store, provider, true);
  INFO((resumed.error ? resumed.error->message : ""));
  REQUIRE(resumed.status == RunStatus::Finished);
  CHECK(provider.total() - before == 12 - recorded);
  checkFinishedLog(*store);
}

TEST_CASE("store failure: the executable exits non-zero, never 'finished', "
          "on a full disk; resume finishes once space is freed",
          "[store][durable][tmpfs][app]") {
  SmallTmpfs fs("64k");
  if (!fs.ok()) {
    WARN("SKIPPED: " << fs.why);
    return;
  }
  // calc (compute) -> check (verify) -> done: a few small events.
  WorkflowDesc wf;
  wf.name = "tiny";
  wf.sourceSha256 = "tiny-1";
  wf.itercVersion = "0.1.0";
  NodeDesc calc;
  calc.kind = NodeKind::Compute;
  calc.name = "calc";
  calc.exprs.push_back({"value", "1", [](const Scope &) {
                          return Json(std::string(900, 'v'));
                        }});
  wf.nodes.push_back(calc);
  NodeDesc check;
  check.kind = NodeKind::Verify;
  check.name = "check";
  check.checks.push_back(
      {"ok", "true", [](const Scope &) { return Json(true); }});
  wf.nodes.push_back(check);
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  wf.edges.push_back(edge(1, wf.doneIndex()));
  static const AppInfo info{"tiny", "tiny.iter", "", ""};
  std::string storeDir = fs.path() + "/store";
  std::string filler = fs.path() + "/filler";
  // The run's lock and run.json fit (a page each), the events do not.
  REQUIRE(makeDirectories(storeDir + "/runs").ok());
  fillUp(filler, 2 * 4096);

  std::ostringstream out, err;
  int code =
      appMain(wf, info, {"run", "--store-dir", storeDir, "--run-id", "r"},
              AppIo{out, err, false, "./tiny"});
  INFO(out.str() << err.str());
  CHECK(code != 0);
  CHECK(!contains(out.str(), "finished"));
  CHECK(contains(err.str(), std::strerror(ENOSPC)));

  REQUIRE(::unlink(filler.c_str()) == 0);
  std::ostringstream out2, err2;
  int resumed =
      appMain(wf, info, {"resume", "--store-dir", storeDir, "--run-id", "r"},
              AppIo{out2, err2, false, "./tiny"});
  INFO(out2.str() << err2.str());
  CHECK(resumed == 0);
  CHECK(contains(out2.str(), "finished"));
  std::unique_ptr<RunStore> store = makeFileStore(storeDir);
  checkFinishedLog(*store);
}
