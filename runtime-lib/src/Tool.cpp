//===- Tool.cpp - Running tool commands and writing generated files -------===//
//
// This file implements the process runner behind tool nodes and the confined
// workspace writer. A tool runs as `/bin/sh -c <command>` (or as an
// interpreter on a temporary script file) under a guard process bound to the
// runner (ToolSpawn.h: the tool dies with the runner, even a SIGKILLed one),
// in a new session and therefore a new process group, with stdin from
// /dev/null, its working directory set, and exactly the environment it was
// given. Both output streams are drained concurrently with poll() and kept
// up to a cap. On timeout, or when the caller's abandon callback says so
// (the run's duration budget, an interrupt), the whole group gets SIGTERM,
// then SIGKILL after a short grace. When the command itself has exited,
// whatever it left behind in its group is killed too, and pipes still held
// open by an escaped descendant are abandoned after a short delay, so a run
// never hangs on a stray process.
//
// The workspace writer walks the relative path one component at a time with
// openat(O_NOFOLLOW), so no symlink, absolute path or `..` can lead a
// generated file outside the workspace.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Tool.h"

#include "Interrupt.h"
#include "ToolSpawn.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <strings.h>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// How long the group gets between SIGTERM and SIGKILL on timeout.
constexpr int64_t killGraceMs = 200;
/// How long pipes may stay open after the command has exited (held by a
/// descendant) before the runner stops reading them.
constexpr int64_t drainGraceMs = 200;
/// The longest poll() sleep: the runner also watches for the command's exit.
constexpr int64_t pollSliceMs = 20;

int64_t nowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

std::string errnoText(int err) { return std::strerror(err); }

/// Closes a descriptor on scope exit.
class FdGuard {
public:
  explicit FdGuard(int fd = -1) : fd(fd) {}
  FdGuard(const FdGuard &) = delete;
  FdGuard &operator=(const FdGuard &) = delete;
  ~FdGuard() { reset(); }
  int get() const { return fd; }
  void reset(int newFd = -1) {
    if (fd >= 0)
      ::close(fd);
    fd = newFd;
  }
  int release() {
    int result = fd;
    fd = -1;
    return result;
  }

private:
  int fd;
};

/// Removes a temporary script (and its private directory) on scope exit.
class TempScript {
public:
  TempScript() = default;
  TempScript(const TempScript &) = delete;
  TempScript &operator=(const TempScript &) = delete;
  ~TempScript() {
    if (!file.empty())
      ::unlink(file.c_str());
    if (!dir.empty())
      ::rmdir(dir.c_str());
  }

  /// Writes `text` to a fresh file in a private temporary directory.
  Status create(const std::string &text) {
    const char *tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    std::string pattern = base + "/iterc-tool-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data()))
      return Error(ErrorCode::Tool, "cannot create a temporary directory in " +
                                        base + ": " + errnoText(errno));
    dir = buf.data();
    file = dir + "/script";
    FdGuard fd(::open(file.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      0600));
    if (fd.get() < 0) {
      int err = errno;
      file.clear();
      return Error(ErrorCode::Tool,
                   "cannot create a temporary script: " + errnoText(err));
    }
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return Error(ErrorCode::Tool,
                     "cannot write a temporary script: " + errnoText(errno));
      done += size_t(n);
    }
    return Status::success();
  }

  const std::string &path() const { return file; }

private:
  std::string dir;
  std::string file;
};

std::optional<std::string>
findProgram(const std::string &program,
            const std::vector<std::pair<std::string, std::string>> &env) {
  if (program.find('/') != std::string::npos)
    return program;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto &[key, value] : env)
    if (key == "PATH")
      path = value;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos)
      end = path.size();
    std::string dir = path.substr(begin, end - begin);
    if (dir.empty())
      dir = ".";
    std::string candidate = dir + "/" + program;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    begin = end + 1;
  }
  return std::nullopt;
}

std::vector<std::string> splitBlank(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n') {
      if (!word.empty())
        words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty())
    words.push_back(std::move(word));
  return words;
}

/// Null-terminated `char *` views of a vector of strings, for exec.
std::vector<char *> cStrings(std::vector<std::string> &strings) {
  std::vector<char *> result;
  result.reserve(strings.size() + 1);
  for (std::string &s : strings)
    result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

/// One captured output stream.
struct Stream {
  int fd = -1;
  std::string *text = nullptr;
  bool *truncated = nullptr;
  int64_t *total = nullptr; ///< Every byte read, kept or not.
  size_t cap = 0;

  bool open() const { return fd >= 0; }
  void close() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  /// Reads what is available; closes the stream at EOF or on error.
  void drain() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (n <= 0) {
        close();
        return;
      }
      *total += n;
      size_t room = cap > text->size() ? cap - text->size() : 0;
      size_t keep = std::min(room, size_t(n));
      text->append(buf, keep);
      if (keep < size_t(n))
        *truncated = true;
      if (size_t(n) < sizeof buf)
        return;
    }
  }
};

class ProcessRunner final : public ToolRunner {
public:
  explicit ProcessRunner(bool sweep) : sweep(sweep) {}
  Expected<ToolResult> run(const ToolInvocation &invocation) override;

private:
  bool sweep; ///< Kill every descendant when the command exits.
};

Expected<ToolResult> ProcessRunner::run(const ToolInvocation &invocation) {
  int64_t start = nowMs();

  // The working directory must exist: say so instead of a spawn failure.
  struct stat st;
  if (invocation.workdir.empty() && invocation.workdirFd < 0)
    return Error(ErrorCode::Tool, "tool has no working directory");
  if ((invocation.workdirFd >= 0
           ? ::fstat(invocation.workdirFd, &st)
           : ::stat(invocation.workdir.c_str(), &st)) != 0)
    return Error(ErrorCode::Tool, "working directory " + invocation.workdir +
                                      ": " + errnoText(errno));
  if (!S_ISDIR(st.st_mode))
    return Error(ErrorCode::Tool, "working directory " + invocation.workdir +
                                      " is not a directory");

  // argv: /bin/sh -c <command>, or <interpreter words...> <script file>.
  std::vector<std::string> argv;
  std::string program;
  TempScript script;
  // One argument may hold at most 128 KiB (MAX_ARG_STRLEN): a longer
  // command (a large value in it) goes to /bin/sh in a script file.
  constexpr size_t kLongestInlineCommand = 64 * 1024;
  if (invocation.interpreter.empty() &&
      invocation.command.size() > kLongestInlineCommand) {
    program = "/bin/sh";
    if (Status made = script.create(invocation.command); !made)
      return made.error();
    argv = {"sh", script.path()};
  } else if (invocation.interpreter.empty()) {
    program = "/bin/sh";
    argv = {"sh", "-c", invocation.command};
  } else {
    argv = splitBlank(invocation.interpreter);
    if (argv.empty())
      return Error(ErrorCode::Tool, "empty interpreter");
    std::optional<std::string> resolved =
        findProgram(argv[0], invocation.env);
    if (!resolved)
      return Error(ErrorCode::Tool,
                   "interpreter '" + argv[0] + "' not found on PATH");
    program = *resolved;
    if (Status made = script.create(invocation.command); !made)
      return made.error();
    argv.push_back(script.path());
  }
  std::vector<std::string> envStrings;
  envStrings.reserve(invocation.env.size());
  for (const auto &[key, value] : invocation.env)
    envStrings.push_back(key + "=" + value);
  std::vector<char *> argvPtrs = cStrings(argv);
  std::vector<char *> envPtrs = cStrings(envStrings);

  int outPipe[2], errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0)
    return Error(ErrorCode::Tool, "cannot create a pipe: " + errnoText(errno));
  FdGuard outRead(outPipe[0]), outWrite(outPipe[1]);
  if (::pipe2(errPipe, O_CLOEXEC) != 0)
    return Error(ErrorCode::Tool, "cannot create a pipe: " + errnoText(errno));
  FdGuard errRead(errPipe[0]), errWrite(errPipe[1]);

  GuardedSpawn spawn;
  spawn.program = program.c_str();
  spawn.argv = argvPtrs.data();
  spawn.envp = envPtrs.data();
  spawn.workdir = invocation.workdir.c_str();
  spawn.workdirFd = invocation.workdirFd;
  spawn.stdoutFd = outWrite.get();
  spawn.stderrFd = errWrite.get();
  spawn.leaveDaemons = !sweep;
  Expected<pid_t> spawned = spawnGuarded(spawn);
  if (!spawned)
    return spawned.error();
  // The guard: the runner waits for it and signals the tool through it.
  const pid_t pid = *spawned;
  outWrite.reset();
  errWrite.reset();

  ToolResult result;
  Stream streams[2];
  result.containment = sweep ? containmentMechanism() : "process group";
  streams[0] = {outRead.release(), &result.stdoutText, &result.stdoutTruncated,
                &result.stdoutBytes, invocation.outputCap};
  streams[1] = {errRead.release(), &result.stderrText, &result.stderrTruncated,
                &result.stderrBytes, invocation.outputCap};
  for (Stream &s : streams)
    ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);

  const bool hasDeadline = invocation.timeoutMs > 0;
  const int64_t deadline =
      invocation.timeoutMs > std::numeric_limits<int64_t>::max() - start
          ? std::numeric_limits<int64_t>::max()
          : start + invocation.timeoutMs;
  int64_t termSentAt = -1; // SIGTERM to the group (timeout).
  bool killSent = false;   // SIGKILL to the group.
  int64_t exitedAt = -1;   // The command exited (not yet reaped).
  bool hurried = false;    // Stopped by a second Ctrl-C (Interrupt.h).

  for (;;) {
    int64_t now = nowMs();
    // Has the command exited? WNOWAIT keeps it a zombie, so its pid (and
    // thus the group id) cannot be reused while the group is still killed.
    if (exitedAt < 0) {
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      if (::waitid(P_PID, pid_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) ==
              0 &&
          info.si_pid == pid) {
        exitedAt = now;
        // The guard killed what the tool left running in its group.
        killSent = true;
      }
    }
    bool anyOpen = streams[0].open() || streams[1].open();
    if (exitedAt >= 0 && !anyOpen)
      break;
    if (exitedAt >= 0 && now - exitedAt >= drainGraceMs)
      break; // An escaped descendant holds the pipes: stop reading.

    if (hasDeadline && now >= deadline && termSentAt < 0) {
      result.timedOut = true;
      termSentAt = now;
      relayTerminate(pid);
    }
    if (invocation.stopWhenHurried && !hurried && exitedAt < 0 &&
        hurryRequested()) {
      hurried = true;
      if (termSentAt < 0) {
        termSentAt = now;
        relayTerminate(pid);
      }
    }
    if (invocation.abandon && termSentAt < 0 && exitedAt < 0)
      if (std::optional<Error> stop = invocation.abandon()) {
        result.interrupted = std::move(stop);
        termSentAt = now;
        relayTerminate(pid);
      }
    if (termSentAt >= 0 && !killSent && now - termSentAt >= killGraceMs) {
      relayKill(pid);
      killSent = true;
    }

    int64_t wait = pollSliceMs;
    if (hasDeadline && termSentAt < 0)
      wait = std::min(wait, std::max<int64_t>(deadline - now, 0));
    if (!anyOpen)
      wait = std::min<int64_t>(wait, 5);
    pollfd fds[2];
    nfds_t count = 0;
    Stream *polled[2];
    for (Stream &s : streams)
      if (s.open()) {
        fds[count] = {s.fd, POLLIN, 0};
        polled[count++] = &s;
      }
    int ready = ::poll(count ? fds : nullptr, count, int(wait));
    if (ready < 0 && errno != EINTR)
      break;
    for (nfds_t i = 0; ready > 0 && i < count; ++i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
        polled[i]->drain();
  }
  for (Stream &s : streams) {
    if (s.open())
      s.drain();
    s.close();
  }

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exitCode = -1;
    result.signal = WTERMSIG(status);
  }
  result.durationMs = nowMs() - start;
  if (hurried)
    return Error(ErrorCode::Cancelled,
                 "interrupted again: the command was stopped");
  return result;
}

/// The components of a slash-separated path, every one (empty and "."
/// included), in order.
std::vector<std::string> pathComponents(std::string_view path) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string_view::npos)
      end = path.size();
    parts.emplace_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

/// Opens (creating if needed) the directory `name` under `parent`, refusing
/// symlinks. Returns the descriptor or an error naming `shown`.
Expected<int> openSubdir(int parent, const std::string &name,
                         const std::string &shown) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::openat(parent, name.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
      return fd;
    int err = errno;
    if (err == ENOENT) {
      if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST)
        return Error(ErrorCode::Store, "cannot create directory for " + shown +
                                           ": " + errnoText(errno));
      continue;
    }
    struct stat st;
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
      return Error(ErrorCode::WorkspaceEscape,
                   "workspace file '" + shown + "' passes through a symlink");
    return Error(ErrorCode::Store,
                 "cannot open directory for " + shown + ": " + errnoText(err));
  }
  return Error(ErrorCode::Store, "cannot create directory for " + shown);
}

} // namespace

std::unique_ptr<ToolRunner> iterc::rt::makeProcessRunner() {
  return std::make_unique<ProcessRunner>(true);
}

std::unique_ptr<ToolRunner> iterc::rt::makeDaemonStartingRunner() {
  return std::make_unique<ProcessRunner>(false);
}

std::string iterc::rt::shellQuote(std::string_view value) {
  std::string quoted;
  quoted.reserve(value.size() + 2);
  quoted.push_back('\'');
  for (char c : value) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

Status iterc::rt::writeWorkspaceFile(const std::string &workspace,
                                     const std::string &relativePath,
                                     const std::string &content) {
  const std::string &shown = relativePath;
  auto escape = [&](const std::string &why) {
    return Status(Error(ErrorCode::WorkspaceEscape,
                        "workspace file '" + shown + "' " + why));
  };
  if (relativePath.empty())
    return escape("has an empty path");
  if (relativePath.find('\0') != std::string::npos)
    return escape("contains a NUL byte");
  if (relativePath.front() == '/')
    return escape("is an absolute path");

  // Components; empty ones and "." are skipped, ".." is refused.
  std::vector<std::string> parts;
  for (std::string &part : pathComponents(relativePath)) {
    if (part == "..")
      return escape("contains a '..' component");
    if (!part.empty() && part != ".")
      parts.push_back(std::move(part));
  }
  if (parts.empty() || relativePath.back() == '/')
    return escape("does not name a file");
  // The repository's own files hold its configuration and hooks: writing
  // them is a way to make git run a program.
  if (isGitMetadata(relativePath))
    return escape(gitMetadataRefusal);

  FdGuard dir(::open(workspace.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0)
    return Error(ErrorCode::Store, "cannot open workspace " + workspace + ": " +
                                       errnoText(errno));
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    Expected<int> sub = openSubdir(dir.get(), parts[i], shown);
    if (!sub)
      return sub.error();
    dir.reset(*sub);
  }

  // O_NONBLOCK: a FIFO planted at the path must not block the open.
  const std::string &name = parts.back();
  FdGuard file(
      ::openat(dir.get(), name.c_str(),
               O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
  if (file.get() < 0) {
    int err = errno;
    struct stat st;
    if (err == ELOOP ||
        (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISLNK(st.st_mode)))
      return escape("is a symlink");
    return Error(ErrorCode::Store, "cannot write workspace file '" + shown +
                                       "': " + errnoText(err));
  }
  struct stat st;
  if (::fstat(file.get(), &st) != 0)
    return Error(ErrorCode::Store, "cannot write workspace file '" + shown +
                                       "': " + errnoText(errno));
  if (!S_ISREG(st.st_mode))
    return Error(ErrorCode::Store,
                 "workspace file '" + shown + "' is not a regular file");
  if (st.st_nlink > 1)
    return escape("is a hard link to another file");
  ::fcntl(file.get(), F_SETFL, ::fcntl(file.get(), F_GETFL) & ~O_NONBLOCK);
  if (::ftruncate(file.get(), 0) != 0)
    return Error(ErrorCode::Store, "cannot write workspace file '" + shown +
                                       "': " + errnoText(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n =
        ::write(file.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return Error(ErrorCode::Store, "cannot write workspace file '" + shown +
                                         "': " + errnoText(errno));
    done += size_t(n);
  }
  if (::close(file.release()) != 0)
    return Error(ErrorCode::Store, "cannot write workspace file '" + shown +
                                       "': " + errnoText(errno));
  return Status::success();
}

Expected<int> iterc::rt::openWorkspaceDir(const std::string &workspace,
                                          const std::string &relativePath) {
  const std::string &shown = relativePath;
  auto escape = [&](const std::string &why) {
    return Error(ErrorCode::WorkspaceEscape,
                 "working directory '" + shown + "' " + why);
  };
  if (relativePath.find('\0') != std::string::npos)
    return escape("contains a NUL byte");
  if (!relativePath.empty() && relativePath.front() == '/')
    return escape("is an absolute path; it must stay inside the workspace");
  FdGuard dir(::open(workspace.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0)
    return Error(ErrorCode::Tool, "cannot open workspace " + workspace + ": " +
                                      errnoText(errno));
  for (const std::string &part : pathComponents(relativePath)) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..")
      return escape("contains a '..' component; it must stay inside the "
                    "workspace");
    int fd = ::openat(dir.get(), part.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      struct stat st;
      if (::fstatat(dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode))
        return escape("passes through the symlink '" + part + "'");
      return Error(ErrorCode::Tool,
                   "working directory '" + shown + "': " + errnoText(err));
    }
    dir.reset(fd);
  }
  return dir.release();
}

bool iterc::rt::isGitMetadata(std::string_view relativePath) {
  for (const std::string &part : pathComponents(relativePath))
    if (strcasecmp(part.c_str(), ".git") == 0)
      return true;
  return false;
}

std::optional<std::string> iterc::rt::resolveProgram(
    const std::string &program,
    const std::vector<std::pair<std::string, std::string>> &env) {
  return findProgram(program, env);
}

std::vector<std::string> iterc::rt::splitWords(std::string_view text) {
  return splitBlank(text);
}

void iterc::rt::addTruncation(Json &object, const ToolResult &result) {
  if (result.stdoutTruncated) {
    object["stdout_truncated"] = true;
    object["stdout_bytes"] = result.stdoutBytes;
  }
  if (result.stderrTruncated) {
    object["stderr_truncated"] = true;
    object["stderr_bytes"] = result.stderrBytes;
  }
}

std::string iterc::rt::truncationNote(const ToolResult &result, size_t cap) {
  std::string note;
  auto add = [&](const char *stream, bool cut, int64_t total) {
    if (!cut)
      return;
    note += std::string(note.empty() ? " (" : "; ") + stream +
            " was cut: the first " + std::to_string(cap) + " of " +
            std::to_string(total) + " bytes kept";
  };
  add("stdout", result.stdoutTruncated, result.stdoutBytes);
  add("stderr", result.stderrTruncated, result.stderrBytes);
  return note.empty() ? note : note + "; raise the tool's max_output)";
}
