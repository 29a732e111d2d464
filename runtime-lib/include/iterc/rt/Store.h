//===- Store.h - Durable record of runs -------------------------*- C++ -*-===//
//
// This file declares the run store. A run is a directory
// `<root>/runs/<run-id>/` holding `run.json` (status, inputs, workflow hash;
// rewritten only when the status changes), `events.jsonl` (append-only, one
// event per line with `seq`, `timestamp`, `type`, `node_id`, `branch_id`,
// `data`), `artifacts/<node>/<version>.json` and
// `interactions/<id>.json`. The event log is the checkpoint: the engine
// rebuilds a run's state from it on resume, so each step appends one line
// instead of rewriting the run's whole state.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_STORE_H
#define ITERC_RT_STORE_H

#include "iterc/rt/Core.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterc::rt {

enum class RunStatus {
  Running,
  Finished,
  Failed,          ///< Reached `fail`, or an error that a resume cannot fix.
  FailedResumable, ///< An error; `resume` retries from the failed node.
  PausedWaitingHuman,
  BudgetExceeded, ///< Resumable with a larger budget.
  LoopExhausted,
  NoProgress,
  Cancelled,
};
const char *runStatusName(RunStatus status);
std::optional<RunStatus> parseRunStatus(std::string_view name);

struct Event {
  int64_t seq = -1; ///< Assigned by the store.
  std::string timestamp;
  std::string type;
  std::string nodeId;
  std::string branchId;
  Json data = Json::object();

  Json toJson() const;
  static std::optional<Event> fromJson(const Json &j);
};

struct RunRecord {
  int formatVersion = 1;
  std::string id;
  std::string workflowName;
  std::string workflowHash;
  RunStatus status = RunStatus::Running;
  Json inputs = Json::object();
  std::string createdAt;
  std::string updatedAt;
  std::string finishedAt;
  Json error;                  ///< null, or {code, message, node}
  Json extra = Json::object(); ///< Engine data (e.g. pending interaction).

  Json toJson() const;
  static std::optional<RunRecord> fromJson(const Json &j);
};

class RunStore {
public:
  virtual ~RunStore() = default;
  virtual Status createRun(const RunRecord &run) = 0;
  virtual Expected<RunRecord> loadRun(const std::string &runId) = 0;
  virtual Status updateRun(const RunRecord &run) = 0;
  /// Appends an event and assigns its seq (0, 1, 2, ... per run). When the
  /// store is durable, the event is on disk when this returns.
  virtual Status appendEvent(const std::string &runId, Event &event) = 0;
  /// The same, for an event the caller no longer needs: a store that keeps
  /// events in memory takes it instead of copying it (`event.seq` is still
  /// set before that).
  virtual Status appendEvent(const std::string &runId, Event &&event) {
    return appendEvent(runId, event);
  }
  /// Every event of a run in seq order. A torn last line (a crash during a
  /// write) is ignored.
  virtual Expected<std::vector<Event>> loadEvents(const std::string &runId) = 0;
  virtual Status writeArtifact(const std::string &runId,
                               const std::string &nodeId, int64_t version,
                               const Json &artifact) = 0;
  virtual Status writeInteraction(const std::string &runId,
                                  const std::string &interactionId,
                                  const Json &interaction) = 0;
  virtual Expected<Json> loadInteraction(const std::string &runId,
                                         const std::string &interactionId) = 0;
  /// Run ids, sorted.
  virtual std::vector<std::string> listRuns() = 0;
  /// An artifact written by writeArtifact (for inspect/report and tests).
  /// The default refuses, so that other RunStore implementations need not
  /// provide it.
  virtual Expected<Json> loadArtifact(const std::string &runId,
                                      const std::string &nodeId,
                                      int64_t version);
};

/// Whether `name` may be used as one path component of the store (a run
/// id, node id or interaction id): not empty, not "." or "..", no '/',
/// no "..", no NUL, at most 255 bytes.
bool isSafeStoreName(std::string_view name);

/// Everything in memory, thread-safe; for tests and --dry-run.
std::unique_ptr<RunStore> makeMemoryStore();
/// A store under `root` (created as needed), thread-safe within a process;
/// one process at a time may append to a given run.
/// `fsync`: flush every event to the disk before returning (slower, survives
/// power loss; without it an event survives a killed process).
std::unique_ptr<RunStore> makeFileStore(std::string root, bool fsync = false);

/// For tests of a failing disk: asked before each write, fsync, rename and
/// close the file store makes to `path` (`op` is one of those words);
/// returning an errno value (e.g. ENOSPC) makes that call fail with it (a
/// write then writes half its bytes first, as a disk that fills up does).
using StoreFaultHook =
    std::function<int(std::string_view op, const std::string &path)>;
std::unique_ptr<RunStore> makeFileStore(std::string root, bool fsync,
                                        StoreFaultHook faults);

/// Creates `dir` and its missing parents (mode 0755), as the file store
/// does for its own directories.
Status makeDirectories(const std::string &dir);

} // namespace iterc::rt

#endif // ITERC_RT_STORE_H
