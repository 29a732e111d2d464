//===- StoreTest.cpp - The run store: memory and files --------------------===//
//
// Both stores run the same checks (runs, events, artifacts, interactions,
// listing, refused ids). The file store is further checked for its layout,
// seq numbering across reopenings, torn and corrupt lines, concurrent
// appends, atomic run.json, and processes killed while appending. A hidden
// [.bench] case times 100,000 appends (10,000 with fsync unless
// ITERC_BENCH_FSYNC_N says otherwise).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Clock.h"
#include "iterc/rt/Store.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc::rt;
namespace fs = std::filesystem;

namespace {

/// A fresh directory from mkdtemp, removed with its contents.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") +
                       "/iterc-store-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()))
      dir = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!dir.empty())
      fs::remove_all(dir, ec);
  }
  const std::string &path() const { return dir; }

private:
  std::string dir;
};

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void appendText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << text;
}

RunRecord makeRun(const std::string &id) {
  RunRecord r;
  r.id = id;
  r.workflowName = "review";
  r.workflowHash = "sha256:abc";
  r.inputs = Json{{"topic", "stores"}, {"n", 3}};
  r.createdAt = "2026-01-01T00:00:00.000Z";
  r.updatedAt = r.createdAt;
  return r;
}

Event makeEvent(const std::string &type, const std::string &node = "",
                const std::string &branch = "", Json data = Json::object()) {
  Event e;
  e.timestamp = "2026-01-01T00:00:00.000Z";
  e.type = type;
  e.nodeId = node;
  e.branchId = branch;
  e.data = std::move(data);
  return e;
}

/// Every line of a file store's events.jsonl is a whole event with seq
/// 0..n-1, and the file ends with a newline.
void checkLogFile(const std::string &path, int64_t expected) {
  std::string text = readText(path);
  if (expected == 0) {
    CHECK(text.empty());
    return;
  }
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  std::istringstream in(text);
  std::string line;
  int64_t seq = 0;
  int64_t bad = 0;
  while (std::getline(in, line)) {
    std::optional<Json> j = parseJson(line);
    std::optional<Event> e = j ? Event::fromJson(*j) : std::nullopt;
    if (!e || e->seq != seq)
      ++bad;
    ++seq;
  }
  CHECK(bad == 0);
  CHECK(seq == expected);
}

/// The checks every store must pass.
void checkCommonBehaviour(RunStore &store) {
  // Runs.
  RunRecord run = makeRun("run-1");
  REQUIRE(store.createRun(run).ok());
  Status again = store.createRun(run);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::InvalidInput);

  Expected<RunRecord> loaded = store.loadRun("run-1");
  REQUIRE(loaded.ok());
  CHECK(loaded->id == "run-1");
  CHECK(loaded->workflowName == "review");
  CHECK(loaded->workflowHash == "sha256:abc");
  CHECK(loaded->status == RunStatus::Running);
  CHECK(loaded->inputs == run.inputs);
  CHECK(loaded->createdAt == run.createdAt);
  CHECK(loaded->finishedAt.empty());
  CHECK(loaded->error.is_null());

  run.status = RunStatus::FailedResumable;
  run.updatedAt = run.finishedAt = "2026-01-01T00:01:00.000Z";
  run.error = Json{{"code", "HTTP_ERROR"}, {"message", "boom"}, {"node", "a"}};
  run.extra = Json{{"pending", Json{{"node", "ask"}}}};
  REQUIRE(store.updateRun(run).ok());
  loaded = store.loadRun("run-1");
  REQUIRE(loaded.ok());
  CHECK(loaded->status == RunStatus::FailedResumable);
  CHECK(loaded->finishedAt == "2026-01-01T00:01:00.000Z");
  CHECK(loaded->error == run.error);
  CHECK(loaded->extra == run.extra);

  Status missingUpdate = store.updateRun(makeRun("nope"));
  REQUIRE_FALSE(missingUpdate.ok());
  CHECK(missingUpdate.error().code == ErrorCode::Store);
  Expected<RunRecord> missing = store.loadRun("nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::Store);

  // Events.
  Expected<std::vector<Event>> none = store.loadEvents("run-1");
  REQUIRE(none.ok());
  CHECK(none->empty());
  for (int i = 0; i < 5; ++i) {
    Event e = makeEvent(i == 0 ? "run_started" : "node_started",
                        i == 0 ? "" : "n" + std::to_string(i),
                        i == 3 ? "b1" : "", Json{{"i", i}});
    // Handed over (as the engine does without an observer) or copied.
    Status appended = i % 2 ? store.appendEvent("run-1", std::move(e))
                            : store.appendEvent("run-1", e);
    REQUIRE(appended.ok());
    CHECK(e.seq == i);
  }
  Event other = makeEvent("run_started");
  REQUIRE(store.appendEvent("run-2", other).ok());
  CHECK(other.seq == 0);
  Expected<std::vector<Event>> events = store.loadEvents("run-1");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 5);
  for (int i = 0; i < 5; ++i) {
    const Event &e = (*events)[static_cast<size_t>(i)];
    CHECK(e.seq == i);
    CHECK(e.type == (i == 0 ? "run_started" : "node_started"));
    CHECK(e.nodeId == (i == 0 ? "" : "n" + std::to_string(i)));
    CHECK(e.branchId == (i == 3 ? "b1" : ""));
    CHECK(e.data == Json{{"i", i}});
    CHECK(e.timestamp == "2026-01-01T00:00:00.000Z");
  }
  Expected<std::vector<Event>> unknownEvents = store.loadEvents("ghost");
  REQUIRE_FALSE(unknownEvents.ok());
  CHECK(unknownEvents.error().code == ErrorCode::Store);

  // Artifacts.
  Json artifact = {{"run_id", "run-1"}, {"node_id", "writer"}, {"version", 0},
                   {"data", {{"text", "hello"}}}};
  REQUIRE(store.writeArtifact("run-1", "writer", 0, artifact).ok());
  Json artifact1 = artifact;
  artifact1["version"] = 1;
  REQUIRE(store.writeArtifact("run-1", "writer", 1, artifact1).ok());
  Expected<Json> a0 = store.loadArtifact("run-1", "writer", 0);
  REQUIRE(a0.ok());
  CHECK(*a0 == artifact);
  Expected<Json> a1 = store.loadArtifact("run-1", "writer", 1);
  REQUIRE(a1.ok());
  CHECK(*a1 == artifact1);
  CHECK_FALSE(store.loadArtifact("run-1", "writer", 2).ok());
  CHECK(store.writeArtifact("run-1", "writer", -1, artifact).error().code ==
        ErrorCode::InvalidInput);

  // Interactions.
  Json interaction = {{"id", "i-1"}, {"node_id", "ask"},
                      {"questions", {{"ok", "Proceed?"}}},
                      {"answers", nullptr}};
  REQUIRE(store.writeInteraction("run-1", "i-1", interaction).ok());
  Expected<Json> got = store.loadInteraction("run-1", "i-1");
  REQUIRE(got.ok());
  CHECK(*got == interaction);
  interaction["answers"] = Json{{"ok", true}};
  REQUIRE(store.writeInteraction("run-1", "i-1", interaction).ok());
  got = store.loadInteraction("run-1", "i-1");
  REQUIRE(got.ok());
  CHECK((*got)["answers"]["ok"] == true);
  Expected<Json> absent = store.loadInteraction("run-1", "i-2");
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.error().code == ErrorCode::Store);

  // Listing.
  REQUIRE(store.createRun(makeRun("c")).ok());
  REQUIRE(store.createRun(makeRun("a")).ok());
  REQUIRE(store.createRun(makeRun("b")).ok());
  CHECK(store.listRuns() ==
        std::vector<std::string>{"a", "b", "c", "run-1", "run-2"});

  // Ids that are not a single safe path component.
  for (const std::string &bad :
       {std::string(), std::string("."), std::string(".."),
        std::string("a/b"), std::string("../x"), std::string("x/.."),
        std::string("a..b"), std::string("a\0b", 3),
        std::string(300, 'x')}) {
    INFO("id: " << bad);
    CHECK(store.createRun(makeRun(bad)).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.updateRun(makeRun(bad)).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.loadRun(bad).error().code == ErrorCode::InvalidInput);
    Event e = makeEvent("x");
    CHECK(store.appendEvent(bad, e).error().code == ErrorCode::InvalidInput);
    CHECK(store.loadEvents(bad).error().code == ErrorCode::InvalidInput);
    CHECK(store.writeArtifact(bad, "n", 0, Json()).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.writeArtifact("run-1", bad, 0, Json()).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.loadArtifact("run-1", bad, 0).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.writeInteraction("run-1", bad, Json()).error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.loadInteraction(bad, "i-1").error().code ==
          ErrorCode::InvalidInput);
    CHECK(store.loadInteraction("run-1", bad).error().code ==
          ErrorCode::InvalidInput);
  }
  CHECK(store.listRuns().size() == 5);
}

} // namespace

TEST_CASE("Run statuses have stable names", "[store]") {
  const RunStatus all[] = {
      RunStatus::Running,        RunStatus::Finished,
      RunStatus::Failed,         RunStatus::FailedResumable,
      RunStatus::PausedWaitingHuman, RunStatus::BudgetExceeded,
      RunStatus::LoopExhausted,  RunStatus::NoProgress,
      RunStatus::Cancelled};
  const char *names[] = {"running",          "finished",
                         "failed",           "failed_resumable",
                         "paused_waiting_human", "budget_exceeded",
                         "loop_exhausted",   "no_progress",
                         "cancelled"};
  for (size_t i = 0; i < 9; ++i) {
    CHECK(std::string(runStatusName(all[i])) == names[i]);
    CHECK(parseRunStatus(names[i]) == all[i]);
  }
  CHECK_FALSE(parseRunStatus("queued"));
  CHECK_FALSE(parseRunStatus(""));
}

TEST_CASE("Events and run records have a fixed JSON form", "[store]") {
  Event e = makeEvent("node_finished", "writer", "", Json{{"output", 1}});
  e.seq = 7;
  CHECK(e.toJson().dump() ==
        R"({"seq":7,"timestamp":"2026-01-01T00:00:00.000Z",)"
        R"("type":"node_finished","node_id":"writer","data":{"output":1}})");
  e.branchId = "b2";
  e.nodeId.clear();
  CHECK(e.toJson().dump() ==
        R"({"seq":7,"timestamp":"2026-01-01T00:00:00.000Z",)"
        R"("type":"node_finished","branch_id":"b2","data":{"output":1}})");
  std::optional<Event> back = Event::fromJson(e.toJson());
  REQUIRE(back);
  CHECK(back->toJson() == e.toJson());
  CHECK_FALSE(Event::fromJson(Json::array()));
  CHECK_FALSE(Event::fromJson(Json{{"type", "x"}}));
  CHECK_FALSE(Event::fromJson(Json{{"seq", "1"}, {"type", "x"}}));
  CHECK_FALSE(Event::fromJson(Json{{"seq", 1}, {"type", "x"}, {"node_id", 3}}));
  std::optional<Event> minimal = Event::fromJson(Json{{"seq", 1}, {"type", "x"}});
  REQUIRE(minimal);
  CHECK(minimal->data == Json::object());

  RunRecord r = makeRun("r1");
  std::vector<std::string> keys;
  Json j = r.toJson();
  for (auto it = j.begin(); it != j.end(); ++it)
    keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"format_version", "id",
                                         "workflow_name", "workflow_hash",
                                         "status", "inputs", "created_at",
                                         "updated_at", "error", "extra"});
  CHECK(j["format_version"] == 1);
  CHECK(j["status"] == "running");
  CHECK(j["error"].is_null());
  r.finishedAt = "2026-01-01T00:00:09.000Z";
  r.status = RunStatus::PausedWaitingHuman;
  j = r.toJson();
  CHECK(j["finished_at"] == r.finishedAt);
  CHECK(j["status"] == "paused_waiting_human");
  std::optional<RunRecord> rb = RunRecord::fromJson(j);
  REQUIRE(rb);
  CHECK(rb->toJson() == j);
  Json future = j;
  future["format_version"] = 2;
  CHECK_FALSE(RunRecord::fromJson(future));
  Json badStatus = j;
  badStatus["status"] = "queued";
  CHECK_FALSE(RunRecord::fromJson(badStatus));
}

TEST_CASE("Memory store keeps runs, events, artifacts, interactions",
          "[store]") {
  std::unique_ptr<RunStore> store = makeMemoryStore();
  checkCommonBehaviour(*store);
}

TEST_CASE("File store keeps runs, events, artifacts, interactions",
          "[store]") {
  for (bool durable : {false, true}) {
    INFO("fsync: " << durable);
    TempDir tmp;
    REQUIRE(!tmp.path().empty());
    std::string root = tmp.path() + "/nested/store";
    {
      std::unique_ptr<RunStore> store = makeFileStore(root, durable);
      checkCommonBehaviour(*store);
    }
    // The layout on disk.
    std::string run = root + "/runs/run-1";
    CHECK(fs::is_regular_file(run + "/run.json"));
    CHECK(fs::is_regular_file(run + "/events.jsonl"));
    CHECK(fs::is_regular_file(run + "/artifacts/writer/0.json"));
    CHECK(fs::is_regular_file(run + "/artifacts/writer/1.json"));
    CHECK(fs::is_regular_file(run + "/interactions/i-1.json"));
    checkLogFile(run + "/events.jsonl", 5);
    std::optional<Json> runJson = parseJson(readText(run + "/run.json"));
    REQUIRE(runJson);
    CHECK((*runJson)["status"] == "failed_resumable");
    struct stat st;
    REQUIRE(::stat((run + "/run.json").c_str(), &st) == 0);
    CHECK((st.st_mode & 0022) == 0);
    CHECK((st.st_mode & 0600) == 0600);
    // No temporary files are left behind.
    for (const auto &entry : fs::recursive_directory_iterator(root))
      CHECK(entry.path().filename().string().find(".tmp.") ==
            std::string::npos);
    // A second store over the same root sees everything.
    std::unique_ptr<RunStore> reopened = makeFileStore(root, durable);
    CHECK(reopened->listRuns().size() == 5);
    CHECK(reopened->loadRun("run-1").ok());
    CHECK(reopened->loadInteraction("run-1", "i-1").ok());
    Expected<std::vector<Event>> events = reopened->loadEvents("run-1");
    REQUIRE(events.ok());
    CHECK(events->size() == 5);
  }
}

TEST_CASE("File store: an empty or missing root lists no runs", "[store]") {
  TempDir tmp;
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path() + "/none");
  CHECK(store->listRuns().empty());
  CHECK_FALSE(store->loadRun("x").ok());
  // A stray file under runs/ is not a run.
  fs::create_directories(tmp.path() + "/none/runs/real");
  writeText(tmp.path() + "/none/runs/file.txt", "x");
  CHECK(store->listRuns() == std::vector<std::string>{"real"});
}

TEST_CASE("File store: reopening continues seq numbering", "[store]") {
  TempDir tmp;
  {
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    REQUIRE(store->createRun(makeRun("r")).ok());
    for (int i = 0; i < 3; ++i) {
      Event e = makeEvent("step");
      REQUIRE(store->appendEvent("r", e).ok());
    }
  }
  for (int round = 1; round <= 3; ++round) {
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    Event e = makeEvent("resumed");
    REQUIRE(store->appendEvent("r", e).ok());
    CHECK(e.seq == 2 + round);
  }
  checkLogFile(tmp.path() + "/runs/r/events.jsonl", 6);
}

TEST_CASE("File store: a torn last line is ignored and cut before appending",
          "[store]") {
  TempDir tmp;
  std::string log = tmp.path() + "/runs/r/events.jsonl";
  {
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    REQUIRE(store->createRun(makeRun("r")).ok());
    for (int i = 0; i < 3; ++i) {
      Event e = makeEvent("step");
      REQUIRE(store->appendEvent("r", e).ok());
    }
  }
  SECTION("a line without its newline") {
    appendText(log, R"({"seq":3,"timestamp":"x","type":"st)");
  }
  SECTION("a complete-looking line without its newline") {
    appendText(log, R"({"seq":3,"timestamp":"x","type":"step","data":{}})");
  }
  SECTION("zeros left by a lost write") { appendText(log, std::string(64, '\0')); }
  SECTION("garbage with a newline as the last line") {
    appendText(log, "{\"seq\":3,\"tim\n");
  }
  SECTION("an empty last line") { appendText(log, "\n"); }

  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE(events.ok());
  CHECK(events->size() == 3);
  Event e = makeEvent("after");
  REQUIRE(store->appendEvent("r", e).ok());
  CHECK(e.seq == 3);
  Event f = makeEvent("after");
  REQUIRE(store->appendEvent("r", f).ok());
  CHECK(f.seq == 4);
  checkLogFile(log, 5);
  events = store->loadEvents("r");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 5);
  CHECK((*events)[3].type == "after");
}

TEST_CASE("File store: a log that is only a torn line restarts at 0",
          "[store]") {
  TempDir tmp;
  fs::create_directories(tmp.path() + "/runs/r");
  std::string log = tmp.path() + "/runs/r/events.jsonl";
  writeText(log, R"({"seq":0,"ty)");
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE(events.ok());
  CHECK(events->empty());
  Event e = makeEvent("first");
  REQUIRE(store->appendEvent("r", e).ok());
  CHECK(e.seq == 0);
  checkLogFile(log, 1);
}

TEST_CASE("File store: a corrupt middle line is an error", "[store]") {
  TempDir tmp;
  std::string log = tmp.path() + "/runs/r/events.jsonl";
  {
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    REQUIRE(store->createRun(makeRun("r")).ok());
    Event e = makeEvent("step");
    REQUIRE(store->appendEvent("r", e).ok());
  }
  appendText(log, "not json\n");
  appendText(log, R"({"seq":2,"timestamp":"x","type":"step","data":{}})"
                  "\n");
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE_FALSE(events.ok());
  CHECK(events.error().code == ErrorCode::Store);
  CHECK_THAT(events.error().message, Catch::Contains("line 2"));

  SECTION("two bad lines at the end refuse appends") {
    appendText(log, "bad\nworse");
    Event e = makeEvent("x");
    Status s = store->appendEvent("r", e);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == ErrorCode::Store);
  }
  SECTION("seqs out of order") {
    appendText(log, R"({"seq":1,"timestamp":"x","type":"step","data":{}})"
                    "\n");
    writeText(log, readText(log).substr(readText(log).find('\n') + 1));
    // Lines now: "not json", seq 2, seq 1.
    Expected<std::vector<Event>> again = store->loadEvents("r");
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == ErrorCode::Store);
  }
}

TEST_CASE("File store: concurrent appends get unique, gap-free seqs",
          "[store]") {
  TempDir tmp;
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
  REQUIRE(store->createRun(makeRun("r")).ok());
  REQUIRE(store->createRun(makeRun("s")).ok());
  const int threads = 8, perThread = 500;
  std::vector<std::vector<int64_t>> seqs(threads);
  std::vector<int> failures(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < perThread; ++i) {
        Event e = makeEvent("step", "t" + std::to_string(t), "",
                            Json{{"i", i}, {"pad", std::string(200, 'p')}});
        if (!store->appendEvent("r", e).ok())
          ++failures[t];
        seqs[t].push_back(e.seq);
        Event side = makeEvent("side");
        if (!store->appendEvent(t % 2 ? "r" : "s", side).ok())
          ++failures[t];
      }
    });
  for (std::thread &t : pool)
    t.join();
  for (int f : failures)
    CHECK(f == 0);
  std::vector<int64_t> all;
  for (const auto &s : seqs) {
    CHECK(std::is_sorted(s.begin(), s.end()));
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  const int64_t total = threads * perThread + threads / 2 * perThread;
  checkLogFile(tmp.path() + "/runs/r/events.jsonl", total);
  checkLogFile(tmp.path() + "/runs/s/events.jsonl",
               threads / 2 * perThread);
  Expected<std::vector<Event>> events = store->loadEvents("r");
  REQUIRE(events.ok());
  REQUIRE(events->size() == static_cast<size_t>(total));
  // Each thread's events are in the order it appended them.
  std::vector<int> next(threads, 0);
  for (const Event &e : *events) {
    if (e.type != "step")
      continue;
    int t = std::stoi(e.nodeId.substr(1));
    CHECK(e.data["i"] == next[t]);
    ++next[t];
  }
}

TEST_CASE("File store: run.json is replaced atomically", "[store]") {
  TempDir tmp;
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path(), true);
  RunRecord run = makeRun("r");
  REQUIRE(store->createRun(run).ok());
  std::string path = tmp.path() + "/runs/r/run.json";
  for (int i = 0; i < 50; ++i) {
    run.updatedAt = formatTimestamp(1767225600000LL + i);
    run.extra["step"] = i;
    REQUIRE(store->updateRun(run).ok());
    std::optional<Json> j = parseJson(readText(path));
    REQUIRE(j);
    CHECK((*j)["extra"]["step"] == i);
  }
  size_t entries = 0;
  for (const auto &entry : fs::directory_iterator(tmp.path() + "/runs/r")) {
    (void)entry;
    ++entries;
  }
  CHECK(entries == 1); // run.json only: no temporaries left.
}

TEST_CASE("File store: errors name the path", "[store]") {
  TempDir tmp;
  // The root is a file, so nothing can be created under it.
  writeText(tmp.path() + "/file", "x");
  std::unique_ptr<RunStore> store = makeFileStore(tmp.path() + "/file");
  Status s = store->createRun(makeRun("r"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::Store);
  CHECK_THAT(s.error().message, Catch::Contains(tmp.path() + "/file"));
  Event e = makeEvent("x");
  Status a = store->appendEvent("r", e);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == ErrorCode::Store);
  CHECK(store->listRuns().empty());
}

TEST_CASE("File store: a killed writer leaves a gap-free valid log",
          "[store]") {
  TempDir tmp;
  std::string log = tmp.path() + "/runs/r/events.jsonl";
  {
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    REQUIRE(store->createRun(makeRun("r")).ok());
  }
  std::mt19937 rng(std::random_device{}());
  int64_t known = 0;
  int torn = 0; // Kills that landed mid-write (not required to happen).
  for (int iteration = 0; iteration < 8; ++iteration) {
    INFO("iteration " << iteration);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // The child only appends; big events make a kill mid-write likely.
      std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
      std::string big(iteration % 4 == 1 ? 6000 : 300, 'x');
      for (;;) {
        Event e;
        e.timestamp = systemClock().timestamp();
        e.type = "step";
        e.nodeId = "child";
        e.data = Json{{"payload", big}};
        if (!store->appendEvent("r", e).ok())
          ::_exit(3);
      }
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(
            5, 40)(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));

    std::string raw = readText(log);
    if (!raw.empty() && raw.back() != '\n')
      ++torn;
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path());
    Expected<std::vector<Event>> events = store->loadEvents("r");
    REQUIRE(events.ok());
    REQUIRE(static_cast<int64_t>(events->size()) >= known);
    size_t outOfPlace = 0;
    for (size_t i = 0; i < events->size(); ++i)
      if ((*events)[i].seq != static_cast<int64_t>(i))
        ++outOfPlace;
    REQUIRE(outOfPlace == 0);
    // The parent appends after the crash: the log stays valid.
    Event mark = makeEvent("parent");
    REQUIRE(store->appendEvent("r", mark).ok());
    CHECK(mark.seq == static_cast<int64_t>(events->size()));
    known = mark.seq + 1;
  }
  checkLogFile(log, known);
  CHECK(known > 8);
  if (std::getenv("ITERC_STORE_VERBOSE"))
    std::cout << "crash test: " << known << " events, " << torn
              << " torn writes\n";
}

TEST_CASE("File store: timing of 100,000 appends", "[.bench]") {
  auto count = [](const char *env, int fallback) {
    const char *v = std::getenv(env);
    return v && *v ? std::atoi(v) : fallback;
  };
  for (bool durable : {false, true}) {
    int n = durable ? count("ITERC_BENCH_FSYNC_N", 10000)
                    : count("ITERC_BENCH_N", 100000);
    TempDir tmp;
    std::unique_ptr<RunStore> store = makeFileStore(tmp.path(), durable);
    REQUIRE(store->createRun(makeRun("r")).ok());
    Json data = {{"output", std::string(250, 'o')}, {"_tokens", 123}};
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      Event e = makeEvent("node_finished", "writer", "", data);
      REQUIRE(store->appendEvent("r", e).ok());
    }
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    auto loadStart = std::chrono::steady_clock::now();
    Expected<std::vector<Event>> events = store->loadEvents("r");
    double loadSecs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - loadStart)
                          .count();
    REQUIRE(events.ok());
    CHECK(events->size() == static_cast<size_t>(n));
    std::cout << "appendEvent x" << n << (durable ? " fsync=true" : " fsync=false")
              << ": " << secs << " s (" << secs * 1e6 / n
              << " us/event), line " << fs::file_size(tmp.path() + "/runs/r/events.jsonl") / n
              << " bytes; loadEvents " << loadSecs << " s\n";
  }
}
