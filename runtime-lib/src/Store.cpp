//===- Store.cpp - Durable record of runs ---------------------------------===//
//
// This file implements the run store: the JSON forms of events and run
// records, an in-memory store, and the file store. The file store keeps one
// directory per run; run.json, artifacts and interactions are replaced
// atomically (temporary file, optional fsync, rename), and events.jsonl is an
// append-only log written one whole line per write(2) on an O_APPEND
// descriptor kept open per run, so an append costs O(1) and a completed
// append survives a killed process. A line torn by a crash is ignored when
// reading and cut away before the next append. No exception leaves a store.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Store.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <system_error>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

using namespace iterc::rt;

//===----------------------------------------------------------------------===//
// Names and JSON forms
//===----------------------------------------------------------------------===//

namespace {

struct StatusName {
  RunStatus status;
  const char *name;
};

const StatusName statusNames[] = {
    {RunStatus::Running, "running"},
    {RunStatus::Finished, "finished"},
    {RunStatus::Failed, "failed"},
    {RunStatus::FailedResumable, "failed_resumable"},
    {RunStatus::PausedWaitingHuman, "paused_waiting_human"},
    {RunStatus::BudgetExceeded, "budget_exceeded"},
    {RunStatus::LoopExhausted, "loop_exhausted"},
    {RunStatus::NoProgress, "no_progress"},
    {RunStatus::Cancelled, "cancelled"},
};

/// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dumpJson(const Json &j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

/// Reads an optional string member; false when present with another type.
bool optString(const Json &j, const char *key, std::string &out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return true;
  if (!it->is_string())
    return false;
  out = it->get<std::string>();
  return true;
}

/// Runs `body`, turning any exception (allocation failure, a JSON library
/// surprise) into an Internal error so that none crosses the API.
template <typename F>
auto guarded(const char *what, F body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception &e) {
    return Error(ErrorCode::Internal, std::string(what) + ": " + e.what());
  } catch (...) {
    return Error(ErrorCode::Internal, std::string(what) + ": unknown error");
  }
}

Error invalidName(const char *what, std::string_view name) {
  return Error(ErrorCode::InvalidInput,
               std::string("invalid ") + what + " '" + std::string(name) +
                   "': must be a non-empty file name without '/' or '..'");
}

Status checkName(const char *what, std::string_view name) {
  if (!isSafeStoreName(name))
    return invalidName(what, name);
  return Status::success();
}

Error runNotFound(const std::string &runId) {
  return Error(ErrorCode::Store, "run '" + runId + "' not found");
}

} // namespace

const char *iterc::rt::runStatusName(RunStatus status) {
  for (const StatusName &s : statusNames)
    if (s.status == status)
      return s.name;
  return "failed";
}

std::optional<RunStatus> iterc::rt::parseRunStatus(std::string_view name) {
  for (const StatusName &s : statusNames)
    if (name == s.name)
      return s.status;
  return std::nullopt;
}

bool iterc::rt::isSafeStoreName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name != "." &&
         name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos &&
         name.find("..") == std::string_view::npos;
}

Json Event::toJson() const {
  Json j = Json::object();
  j["seq"] = seq;
  j["timestamp"] = timestamp;
  j["type"] = type;
  if (!nodeId.empty())
    j["node_id"] = nodeId;
  if (!branchId.empty())
    j["branch_id"] = branchId;
  j["data"] = data;
  return j;
}

std::optional<Event> Event::fromJson(const Json &j) {
  if (!j.is_object())
    return std::nullopt;
  Event e;
  auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_integer())
    return std::nullopt;
  e.seq = seq->get<int64_t>();
  auto type = j.find("type");
  if (type == j.end() || !type->is_string())
    return std::nullopt;
  e.type = type->get<std::string>();
  if (!optString(j, "timestamp", e.timestamp) ||
      !optString(j, "node_id", e.nodeId) ||
      !optString(j, "branch_id", e.branchId))
    return std::nullopt;
  auto data = j.find("data");
  if (data != j.end() && !data->is_null())
    e.data = *data;
  return e;
}

Json RunRecord::toJson() const {
  Json j = Json::object();
  j["format_version"] = formatVersion;
  j["id"] = id;
  j["workflow_name"] = workflowName;
  j["workflow_hash"] = workflowHash;
  j["status"] = runStatusName(status);
  j["inputs"] = inputs;
  j["created_at"] = createdAt;
  j["updated_at"] = updatedAt;
  if (!finishedAt.empty())
    j["finished_at"] = finishedAt;
  j["error"] = error;
  j["extra"] = extra;
  return j;
}

std::optional<RunRecord> RunRecord::fromJson(const Json &j) {
  if (!j.is_object())
    return std::nullopt;
  RunRecord r;
  auto version = j.find("format_version");
  if (version != j.end()) {
    if (!version->is_number_integer() || version->get<int64_t>() != 1)
      return std::nullopt;
    r.formatVersion = 1;
  }
  auto id = j.find("id");
  if (id == j.end() || !id->is_string())
    return std::nullopt;
  r.id = id->get<std::string>();
  auto status = j.find("status");
  if (status == j.end() || !status->is_string())
    return std::nullopt;
  std::optional<RunStatus> parsed = parseRunStatus(status->get<std::string>());
  if (!parsed)
    return std::nullopt;
  r.status = *parsed;
  if (!optString(j, "workflow_name", r.workflowName) ||
      !optString(j, "workflow_hash", r.workflowHash) ||
      !optString(j, "created_at", r.createdAt) ||
      !optString(j, "updated_at", r.updatedAt) ||
      !optString(j, "finished_at", r.finishedAt))
    return std::nullopt;
  auto inputs = j.find("inputs");
  if (inputs != j.end() && !inputs->is_null()) {
    if (!inputs->is_object())
      return std::nullopt;
    r.inputs = *inputs;
  }
  auto error = j.find("error");
  if (error != j.end())
    r.error = *error;
  auto extra = j.find("extra");
  if (extra != j.end() && !extra->is_null()) {
    if (!extra->is_object())
      return std::nullopt;
    r.extra = *extra;
  }
  return r;
}

Expected<Json> RunStore::loadArtifact(const std::string & /*runId*/,
                                      const std::string & /*nodeId*/,
                                      int64_t /*version*/) {
  return Error(ErrorCode::Internal, "this store cannot load artifacts");
}

//===----------------------------------------------------------------------===//
// Memory store
//===----------------------------------------------------------------------===//

namespace {

class MemoryStore : public RunStore {
public:
  Status createRun(const RunRecord &run) override {
    return guarded("createRun", [&]() -> Status {
      if (Status s = checkName("run id", run.id); !s)
        return s;
      std::lock_guard<std::mutex> lock(mu);
      RunData &data = runs[run.id];
      if (data.record)
        return Error(ErrorCode::InvalidInput,
                     "run '" + run.id + "' already exists");
      data.record = run;
      return Status::success();
    });
  }

  Expected<RunRecord> loadRun(const std::string &runId) override {
    return guarded("loadRun", [&]() -> Expected<RunRecord> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      std::lock_guard<std::mutex> lock(mu);
      auto it = runs.find(runId);
      if (it == runs.end() || !it->second.record)
        return runNotFound(runId);
      return *it->second.record;
    });
  }

  Status updateRun(const RunRecord &run) override {
    return guarded("updateRun", [&]() -> Status {
      if (Status s = checkName("run id", run.id); !s)
        return s;
      std::lock_guard<std::mutex> lock(mu);
      auto it = runs.find(run.id);
      if (it == runs.end() || !it->second.record)
        return runNotFound(run.id);
      it->second.record = run;
      return Status::success();
    });
  }

  Status appendEvent(const std::string &runId, Event &event) override {
    return append(runId, event, [&] { return event; });
  }
  Status appendEvent(const std::string &runId, Event &&event) override {
    return append(runId, event, [&] { return std::move(event); });
  }

  Expected<std::vector<Event>> loadEvents(const std::string &runId) override {
    return guarded("loadEvents", [&]() -> Expected<std::vector<Event>> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      std::lock_guard<std::mutex> lock(mu);
      auto it = runs.find(runId);
      if (it == runs.end())
        return runNotFound(runId);
      return std::vector<Event>(it->second.events.begin(),
                                it->second.events.end());
    });
  }

  Status writeArtifact(const std::string &runId, const std::string &nodeId,
                       int64_t version, const Json &artifact) override {
    return guarded("writeArtifact", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      if (Status s = checkName("node id", nodeId); !s)
        return s;
      if (version < 0)
        return Error(ErrorCode::InvalidInput, "negative artifact version");
      std::lock_guard<std::mutex> lock(mu);
      runs[runId].artifacts[{nodeId, version}] = artifact;
      return Status::success();
    });
  }

  Expected<Json> loadArtifact(const std::string &runId,
                              const std::string &nodeId,
                              int64_t version) override {
    return guarded("loadArtifact", [&]() -> Expected<Json> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      if (Status s = checkName("node id", nodeId); !s)
        return s.error();
      std::lock_guard<std::mutex> lock(mu);
      auto it = runs.find(runId);
      if (it == runs.end())
        return runNotFound(runId);
      auto a = it->second.artifacts.find({nodeId, version});
      if (a == it->second.artifacts.end())
        return Error(ErrorCode::Store, "artifact " + nodeId + "/" +
                                           std::to_string(version) +
                                           " of run '" + runId + "' not found");
      return a->second;
    });
  }

  Status writeInteraction(const std::string &runId,
                          const std::string &interactionId,
                          const Json &interaction) override {
    return guarded("writeInteraction", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      if (Status s = checkName("interaction id", interactionId); !s)
        return s;
      std::lock_guard<std::mutex> lock(mu);
      runs[runId].interactions[interactionId] = interaction;
      return Status::success();
    });
  }

  Expected<Json> loadInteraction(const std::string &runId,
                                 const std::string &interactionId) override {
    return guarded("loadInteraction", [&]() -> Expected<Json> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      if (Status s = checkName("interaction id", interactionId); !s)
        return s.error();
      std::lock_guard<std::mutex> lock(mu);
      auto it = runs.find(runId);
      if (it == runs.end())
        return runNotFound(runId);
      auto i = it->second.interactions.find(interactionId);
      if (i == it->second.interactions.end())
        return Error(ErrorCode::Store, "interaction '" + interactionId +
                                           "' of run '" + runId +
                                           "' not found");
      return i->second;
    });
  }

  std::vector<std::string> listRuns() override {
    try {
      std::lock_guard<std::mutex> lock(mu);
      std::vector<std::string> ids;
      for (const auto &entry : runs)
        ids.push_back(entry.first);
      return ids;
    } catch (...) {
      return {};
    }
  }

private:
  /// Keeps `take()` (a copy of the event, or the event itself) with the
  /// next seq, which is also written back into `event` before it is taken.
  template <typename Take>
  Status append(const std::string &runId, Event &event, Take take) {
    return guarded("appendEvent", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      std::lock_guard<std::mutex> lock(mu);
      std::deque<Event> &events = runs[runId].events;
      event.seq = static_cast<int64_t>(events.size());
      events.push_back(take());
      return Status::success();
    });
  }

  struct RunData {
    std::optional<RunRecord> record;
    /// A deque: a long run's log grows without moving (and freeing) one
    /// ever larger block.
    std::deque<Event> events;
    std::map<std::pair<std::string, int64_t>, Json> artifacts;
    std::map<std::string, Json> interactions;
  };

  std::mutex mu;
  std::map<std::string, RunData> runs;
};

} // namespace

std::unique_ptr<RunStore> iterc::rt::makeMemoryStore() {
  return std::make_unique<MemoryStore>();
}

//===----------------------------------------------------------------------===//
// File helpers
//===----------------------------------------------------------------------===//

namespace {

std::string errnoText(int err) {
  return std::error_code(err, std::generic_category()).message();
}

Error fileError(const std::string &what, const std::string &path, int err) {
  return Error(ErrorCode::Store, what + " " + path + ": " + errnoText(err));
}

/// A file descriptor closed when it goes out of scope.
class UniqueFd {
public:
  explicit UniqueFd(int fd = -1) : fd(fd) {}
  UniqueFd(const UniqueFd &) = delete;
  UniqueFd &operator=(const UniqueFd &) = delete;
  ~UniqueFd() {
    if (fd >= 0)
      ::close(fd);
  }
  int get() const { return fd; }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }

private:
  int fd;
};

Status writeAll(int fd, const char *data, size_t size,
                const std::string &path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fileError("cannot write", path, errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::success();
}

Status syncDir(const std::string &dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0)
    return fileError("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0)
    return fileError("cannot fsync directory", dir, errno);
  return Status::success();
}

std::string parentOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}

/// Creates `dir` and its missing parents (mode 0755). With `durable`, each
/// new directory's parent is fsynced so that the entry survives power loss.
Status makeDirs(const std::string &dir, bool durable) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return Status::success();
    return fileError("cannot create directory", dir, ENOTDIR);
  }
  std::string parent = parentOf(dir);
  if (parent != dir && parent != "/" && parent != ".")
    if (Status s = makeDirs(parent, durable); !s)
      return s;
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno != EEXIST)
      return fileError("cannot create directory", dir, errno);
    return Status::success();
  }
  if (durable)
    return syncDir(parent);
  return Status::success();
}

/// Reads a whole file; `err` is set to errno on failure (ENOENT when
/// missing).
std::optional<std::string> readFile(const std::string &path, int &err) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    err = errno;
    return std::nullopt;
  }
  std::string text;
  struct stat st;
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0)
    text.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      err = errno;
      return std::nullopt;
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  err = 0;
  return text;
}

bool fileExists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// Reads `size` bytes at `offset`.
Status readAt(int fd, off_t offset, size_t size, std::string &out,
              const std::string &path) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n =
        ::pread(fd, &out[done], size - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fileError("cannot read", path, errno);
    }
    if (n == 0)
      return Error(ErrorCode::Store, "unexpected end of file in " + path);
    done += static_cast<size_t>(n);
  }
  return Status::success();
}

/// The offset where the line containing byte `pos - 1` starts: just after
/// the previous '\n', or 0. Scans backwards in growing chunks.
Expected<off_t> findLineStart(int fd, off_t pos, const std::string &path) {
  std::string buf;
  off_t end = pos;
  size_t chunk = 4096;
  while (end > 0) {
    off_t start =
        end > static_cast<off_t>(chunk) ? end - static_cast<off_t>(chunk) : 0;
    if (Status s =
            readAt(fd, start, static_cast<size_t>(end - start), buf, path);
        !s)
      return s.error();
    size_t nl = buf.find_last_of('\n');
    if (nl != std::string::npos)
      return start + static_cast<off_t>(nl) + 1;
    end = start;
    chunk = std::min<size_t>(chunk * 2, 1 << 20);
  }
  return static_cast<off_t>(0);
}

/// Parses one line of events.jsonl (without its '\n').
std::optional<Event> parseEventLine(std::string_view line) {
  std::optional<Json> j = parseJson(line);
  if (!j)
    return std::nullopt;
  return Event::fromJson(*j);
}

/// Parses a whole events.jsonl. The last line may be torn by a crash (no
/// '\n', or not a valid event): it is ignored. Any other bad line is an
/// error naming its number.
Expected<std::vector<Event>> parseEventLog(const std::string &text,
                                           const std::string &path) {
  std::vector<Event> events;
  size_t pos = 0;
  size_t lineNo = 0;
  while (pos < text.size()) {
    ++lineNo;
    size_t nl = text.find('\n', pos);
    bool terminated = nl != std::string::npos;
    size_t end = terminated ? nl : text.size();
    size_t next = terminated ? nl + 1 : text.size();
    bool last = next >= text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = next;
    if (!terminated)
      break; // A write that did not complete.
    std::optional<Event> event = parseEventLine(line);
    if (!event) {
      if (last)
        break;
      return Error(ErrorCode::Store, path + ": line " + std::to_string(lineNo) +
                                         " is not a valid event");
    }
    if (!events.empty() && event->seq <= events.back().seq)
      return Error(ErrorCode::Store, path + ": line " + std::to_string(lineNo) +
                                         ": seq " + std::to_string(event->seq) +
                                         " does not follow " +
                                         std::to_string(events.back().seq));
    events.push_back(std::move(*event));
  }
  return events;
}

//===----------------------------------------------------------------------===//
// File store
//===----------------------------------------------------------------------===//

class FileStore : public RunStore {
public:
  FileStore(std::string root, bool durable, StoreFaultHook faults)
      : root(std::move(root)), durable(durable), faults(std::move(faults)) {
    while (this->root.size() > 1 && this->root.back() == '/')
      this->root.pop_back();
    if (this->root.empty())
      this->root = ".";
  }

  ~FileStore() override {
    for (auto &entry : logs)
      if (entry.second->fd >= 0)
        ::close(entry.second->fd);
  }

  Status createRun(const RunRecord &run) override {
    return guarded("createRun", [&]() -> Status {
      if (Status s = checkName("run id", run.id); !s)
        return s;
      std::string dir = runDir(run.id);
      std::lock_guard<std::mutex> lock(recordMu);
      if (Status s = makeDirs(dir, durable); !s)
        return s;
      if (fileExists(dir + "/run.json"))
        return Error(ErrorCode::InvalidInput,
                     "run '" + run.id + "' already exists in " + dir);
      return writeAtomic(dir, "run.json", dumpJson(run.toJson(), 2) + "\n");
    });
  }

  Expected<RunRecord> loadRun(const std::string &runId) override {
    return guarded("loadRun", [&]() -> Expected<RunRecord> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      std::string path = runDir(runId) + "/run.json";
      int err = 0;
      std::optional<std::string> text = readFile(path, err);
      if (!text) {
        if (err == ENOENT)
          return Error(ErrorCode::Store,
                       "run '" + runId + "' not found (" + path + ")");
        return fileError("cannot read", path, err);
      }
      std::optional<Json> j = parseJson(*text);
      if (!j)
        return Error(ErrorCode::Store, path + ": not valid JSON");
      std::optional<RunRecord> record = RunRecord::fromJson(*j);
      if (!record)
        return Error(ErrorCode::Store,
                     path + ": not a run record of format version 1");
      return *record;
    });
  }

  Status updateRun(const RunRecord &run) override {
    return guarded("updateRun", [&]() -> Status {
      if (Status s = checkName("run id", run.id); !s)
        return s;
      std::string dir = runDir(run.id);
      std::lock_guard<std::mutex> lock(recordMu);
      if (!fileExists(dir + "/run.json"))
        return runNotFound(run.id);
      return writeAtomic(dir, "run.json", dumpJson(run.toJson(), 2) + "\n");
    });
  }

  using RunStore::appendEvent;
  Status appendEvent(const std::string &runId, Event &event) override {
    return guarded("appendEvent", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      std::shared_ptr<EventLog> log = logFor(runId);
      std::lock_guard<std::mutex> lock(log->mu);
      if (log->fd < 0)
        if (Status s = openLog(runId, *log); !s)
          return s;
      const std::string path = eventsPath(runId);
      int64_t previousSeq = event.seq;
      event.seq = log->nextSeq;
      std::string line = dumpJson(event.toJson());
      line += '\n';
      // One write(2) for the whole line; writeAll only loops on the rare
      // short write. On failure the partial line is cut away again.
      Status written = write(log->fd, line, path);
      if (written && durable && sync(log->fd, path) != 0)
        written = fileError("cannot fsync", path, errno);
      if (!written) {
        event.seq = previousSeq;
        if (::ftruncate(log->fd, log->size) != 0) {
          // The log is in an unknown state: reopen (and repair) next time.
          ::close(log->fd);
          log->fd = -1;
        }
        return written;
      }
      log->size += static_cast<off_t>(line.size());
      ++log->nextSeq;
      return Status::success();
    });
  }

  Expected<std::vector<Event>> loadEvents(const std::string &runId) override {
    return guarded("loadEvents", [&]() -> Expected<std::vector<Event>> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      std::string path = eventsPath(runId);
      std::shared_ptr<EventLog> log = existingLog(runId);
      std::unique_lock<std::mutex> lock;
      if (log)
        lock = std::unique_lock<std::mutex>(log->mu);
      int err = 0;
      std::optional<std::string> text = readFile(path, err);
      if (!text) {
        if (err == ENOENT) {
          if (isDirectory(runDir(runId)))
            return std::vector<Event>();
          return runNotFound(runId);
        }
        return fileError("cannot read", path, err);
      }
      return parseEventLog(*text, path);
    });
  }

  Status writeArtifact(const std::string &runId, const std::string &nodeId,
                       int64_t version, const Json &artifact) override {
    return guarded("writeArtifact", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      if (Status s = checkName("node id", nodeId); !s)
        return s;
      if (version < 0)
        return Error(ErrorCode::InvalidInput, "negative artifact version");
      std::string dir = runDir(runId) + "/artifacts/" + nodeId;
      if (Status s = makeDirs(dir, durable); !s)
        return s;
      return writeAtomic(dir, std::to_string(version) + ".json",
                         dumpJson(artifact, 2) + "\n");
    });
  }

  Expected<Json> loadArtifact(const std::string &runId,
                              const std::string &nodeId,
                              int64_t version) override {
    return guarded("loadArtifact", [&]() -> Expected<Json> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      if (Status s = checkName("node id", nodeId); !s)
        return s.error();
      return loadJsonFile(runDir(runId) + "/artifacts/" + nodeId + "/" +
                              std::to_string(version) + ".json",
                          "artifact " + nodeId + "/" + std::to_string(version) +
                              " of run '" + runId + "'");
    });
  }

  Status writeInteraction(const std::string &runId,
                          const std::string &interactionId,
                          const Json &interaction) override {
    return guarded("writeInteraction", [&]() -> Status {
      if (Status s = checkName("run id", runId); !s)
        return s;
      if (Status s = checkName("interaction id", interactionId); !s)
        return s;
      std::string dir = runDir(runId) + "/interactions";
      if (Status s = makeDirs(dir, durable); !s)
        return s;
      return writeAtomic(dir, interactionId + ".json",
                         dumpJson(interaction, 2) + "\n");
    });
  }

  Expected<Json> loadInteraction(const std::string &runId,
                                 const std::string &interactionId) override {
    return guarded("loadInteraction", [&]() -> Expected<Json> {
      if (Status s = checkName("run id", runId); !s)
        return s.error();
      if (Status s = checkName("interaction id", interactionId); !s)
        return s.error();
      return loadJsonFile(
          runDir(runId) + "/interactions/" + interactionId + ".json",
          "interaction '" + interactionId + "' of run '" + runId + "'");
    });
  }

  std::vector<std::string> listRuns() override {
    try {
      std::vector<std::string> ids;
      std::string dir = root + "/runs";
      DIR *d = ::opendir(dir.c_str());
      if (!d)
        return ids;
      while (struct dirent *entry = ::readdir(d)) {
        std::string name = entry->d_name;
        if (!isSafeStoreName(name))
          continue;
        bool isDir = entry->d_type == DT_DIR;
        if (entry->d_type == DT_UNKNOWN || entry->d_type == DT_LNK)
          isDir = isDirectory(dir + "/" + name);
        if (isDir)
          ids.push_back(std::move(name));
      }
      ::closedir(d);
      std::sort(ids.begin(), ids.end());
      return ids;
    } catch (...) {
      return {};
    }
  }

private:
  /// The open events.jsonl of one run.
  struct EventLog {
    std::mutex mu;
    int fd = -1;
    int64_t nextSeq = 0;
    off_t size = 0; ///< Bytes of whole, valid lines.
  };

  std::string runDir(const std::string &runId) const {
    return root + "/runs/" + runId;
  }
  std::string eventsPath(const std::string &runId) const {
    return runDir(runId) + "/events.jsonl";
  }

  std::shared_ptr<EventLog> logFor(const std::string &runId) {
    std::lock_guard<std::mutex> lock(logsMu);
    std::shared_ptr<EventLog> &log = logs[runId];
    if (!log)
      log = std::make_shared<EventLog>();
    return log;
  }

  std::shared_ptr<EventLog> existingLog(const std::string &runId) {
    std::lock_guard<std::mutex> lock(logsMu);
    auto it = logs.find(runId);
    return it == logs.end() ? nullptr : it->second;
  }

  /// Opens a run's log for appending: finds the seq of the last valid line
  /// by reading backwards from the end (O(length of the last lines), not of
  /// the file) and cuts away a torn last line.
  Status openLog(const std::string &runId, EventLog &log) {
    std::string dir = runDir(runId);
    if (Status s = makeDirs(dir, durable); !s)
      return s;
    std::string path = eventsPath(runId);
    UniqueFd fd(
        ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd.get() < 0)
      return fileError("cannot open", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
      return fileError("cannot stat", path, errno);
    const off_t size = st.st_size;
    off_t end = size;
    bool skipped = false; // The last line has been found torn already.
    std::string buf;
    if (end > 0) {
      if (Status s = readAt(fd.get(), end - 1, 1, buf, path); !s)
        return s;
      if (buf[0] != '\n') {
        Expected<off_t> start = findLineStart(fd.get(), end, path);
        if (!start)
          return start.error();
        end = *start;
        skipped = true;
      }
    }
    int64_t nextSeq = 0;
    while (end > 0) {
      Expected<off_t> start = findLineStart(fd.get(), end - 1, path);
      if (!start)
        return start.error();
      if (Status s = readAt(fd.get(), *start,
                            static_cast<size_t>(end - 1 - *start), buf, path);
          !s)
        return s;
      if (std::optional<Event> last = parseEventLine(buf)) {
        nextSeq = last->seq + 1;
        break;
      }
      if (skipped)
        return Error(ErrorCode::Store,
                     path + ": invalid event line ending at byte " +
                         std::to_string(end) + "; refusing to append");
      end = *start;
      skipped = true;
    }
    if (end < size) {
      if (::ftruncate(fd.get(), end) != 0)
        return fileError("cannot truncate torn line of", path, errno);
      if (durable && ::fdatasync(fd.get()) != 0)
        return fileError("cannot fsync", path, errno);
    }
    if (durable)
      if (Status s = syncDir(dir); !s)
        return s;
    log.fd = fd.release();
    log.nextSeq = nextSeq;
    log.size = end;
    return Status::success();
  }

  /// Replaces `dir/name` with `content`: a temporary file in the same
  /// directory, fsync when durable, rename, fsync of the directory.
  Status writeAtomic(const std::string &dir, const std::string &name,
                     const std::string &content) {
    std::string path = dir + "/" + name;
    std::string tmp = dir + "/." + name + ".tmp." + std::to_string(::getpid()) +
                      "." + std::to_string(tmpCounter.fetch_add(1));
    UniqueFd fd(::open(
        tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0)
      return fileError("cannot create", tmp, errno);
    Status s = write(fd.get(), content, tmp);
    if (s && durable && sync(fd.get(), tmp) != 0)
      s = fileError("cannot fsync", tmp, errno);
    if (s && closeFile(fd.release(), tmp) != 0)
      s = fileError("cannot close", tmp, errno);
    if (s && renameFile(tmp, path) != 0)
      s = fileError("cannot rename " + tmp + " to", path, errno);
    if (!s) {
      ::unlink(tmp.c_str());
      return s;
    }
    if (durable)
      return syncDir(dir);
    return Status::success();
  }

  /// The errno the test's fault hook injects into `op` on `path`, or 0.
  int fault(std::string_view op, const std::string &path) const {
    return faults ? faults(op, path) : 0;
  }

  /// writeAll, or half of it and the injected error.
  Status write(int fd, const std::string &data, const std::string &path) {
    if (int err = fault("write", path)) {
      (void)writeAll(fd, data.data(), data.size() / 2, path);
      return fileError("cannot write", path, err);
    }
    return writeAll(fd, data.data(), data.size(), path);
  }

  /// fdatasync(2), or -1 with the injected errno.
  int sync(int fd, const std::string &path) {
    if (int err = fault("fsync", path)) {
      errno = err;
      return -1;
    }
    return ::fdatasync(fd);
  }

  /// close(2) (always closes), or -1 with the injected errno.
  int closeFile(int fd, const std::string &path) {
    int result = ::close(fd);
    if (int err = fault("close", path)) {
      errno = err;
      return -1;
    }
    return result;
  }

  int renameFile(const std::string &from, const std::string &to) {
    if (int err = fault("rename", to)) {
      errno = err;
      return -1;
    }
    return ::rename(from.c_str(), to.c_str());
  }

  Expected<Json> loadJsonFile(const std::string &path,
                              const std::string &what) {
    int err = 0;
    std::optional<std::string> text = readFile(path, err);
    if (!text) {
      if (err == ENOENT)
        return Error(ErrorCode::Store, what + " not found (" + path + ")");
      return fileError("cannot read", path, err);
    }
    std::optional<Json> j = parseJson(*text);
    if (!j)
      return Error(ErrorCode::Store, path + ": not valid JSON");
    return *j;
  }

  std::string root;
  bool durable;
  StoreFaultHook faults;
  std::mutex recordMu; ///< Serializes run.json creation and updates.
  std::mutex logsMu;   ///< Guards `logs` (not the logs themselves).
  std::map<std::string, std::shared_ptr<EventLog>> logs;
  std::atomic<uint64_t> tmpCounter{0};
};

} // namespace

std::unique_ptr<RunStore> iterc::rt::makeFileStore(std::string root,
                                                   bool fsync) {
  return std::make_unique<FileStore>(std::move(root), fsync, nullptr);
}

std::unique_ptr<RunStore> iterc::rt::makeFileStore(std::string root, bool fsync,
                                                   StoreFaultHook faults) {
  return std::make_unique<FileStore>(std::move(root), fsync, std::move(faults));
}

Status iterc::rt::makeDirectories(const std::string &dir) {
  return makeDirs(dir, false);
}
