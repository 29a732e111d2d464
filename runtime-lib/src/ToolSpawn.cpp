//===- ToolSpawn.cpp - Tool processes bound to the runner -----------------===//
//
// This file implements the guard process of ToolSpawn.h. The runner is
// multithreaded, so after fork() both the guard and the tool use only
// async-signal-safe system calls: no allocation, no locks, no stdio. What
// they need (argv, environment, paths) is prepared by the runner before the
// fork.
//
// The guard blocks every signal and takes the ones it acts on with
// sigwaitinfo():
//   SIGCHLD  the tool (or a reparented orphan) changed state;
//   SIGUSR1  the kernel's notice that the runner died (PR_SET_PDEATHSIG),
//            believed only when getppid() has changed;
//   SIGTERM  relayed to the tool's group (the runner's timeout);
//   SIGUSR2  SIGKILL for the tool's group (the runner's hard kill).
// A status pipe (close-on-exec) tells the runner the tool's pid, or the
// errno of a fork, chdir or exec that failed; its end of file means the tool
// is running.
//
//===----------------------------------------------------------------------===//
#include "ToolSpawn.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <string>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// What the runner's pdeath signal to the guard is.
constexpr int runnerDiedSignal = SIGUSR1;
/// What the runner sends the guard for a SIGKILL of the tool's group.
constexpr int killGroupSignal = SIGUSR2;

/// One record of the status pipe: a tag ('P' pid, 'E' errno) and a value.
struct StatusRecord {
  char tag;
  int value;
};

void sendStatus(int fd, char tag, int value) {
  StatusRecord r;
  std::memset(&r, 0, sizeof r);
  r.tag = tag;
  r.value = value;
  while (::write(fd, &r, sizeof r) < 0 && errno == EINTR) {
  }
}

/// Closes every descriptor from `first` on, except `keep` (-1: none).
void closeFrom(int first, int keep) {
  auto closeRange = [](unsigned lo, unsigned hi) {
    if (lo > hi)
      return;
    if (::syscall(SYS_close_range, lo, hi, 0) == 0)
      return;
    for (unsigned fd = lo; fd <= hi && fd < 65536; ++fd)
      ::close(int(fd));
  };
  if (keep < first) {
    closeRange(unsigned(first), ~0U);
    return;
  }
  closeRange(unsigned(first), unsigned(keep) - 1);
  closeRange(unsigned(keep) + 1, ~0U);
}

void setDefault(int sig) {
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
}

/// In the tool's process: its own session, default signals, the pipes as
/// stdout and stderr, then exec. Never returns.
[[noreturn]] void execTool(const GuardedSpawn &s, pid_t guard, int statusFd,
                           int devnull) {
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP)
      setDefault(sig);
  ::setsid();
  // Should the guard itself be killed, the tool goes too.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != guard)
    ::_exit(127);
  if (::dup2(devnull, 0) < 0 || ::dup2(s.stdoutFd, 1) < 0 ||
      ::dup2(s.stderrFd, 2) < 0 ||
      (s.workdirFd >= 0 ? ::fchdir(s.workdirFd) : ::chdir(s.workdir)) != 0) {
    sendStatus(statusFd, 'E', errno);
    ::_exit(127);
  }
  closeFrom(3, statusFd); // The status pipe closes on exec.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(s.program, s.argv, s.envp);
  sendStatus(statusFd, 'E', errno);
  ::_exit(127);
}

/// Exits the way the tool did: with its code, or by its signal.
[[noreturn]] void exitLike(int status) {
  if (WIFEXITED(status))
    ::_exit(WEXITSTATUS(status));
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  struct rlimit noCore = {0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore); // The tool's crash is not the guard's.
  setDefault(sig);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  ::sigprocmask(SIG_UNBLOCK, &one, nullptr);
  ::kill(::getpid(), sig);
  ::_exit(128 + sig);
}

/// Reaps every child that has ended, except `tool` (left for the caller).
void reapOrphans(pid_t tool) {
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid == 0 || info.si_pid == tool)
      return;
    ::waitpid(info.si_pid, nullptr, 0);
  }
}

/// Reads the pids of the guard's children into `out` (at most `max`):
/// /proc/thread-self/children, or, without it, a scan of /proc for
/// processes whose parent is `self`. Only system calls and stack buffers
/// (the guard may not allocate). -1 when neither can be read.
int listChildren(pid_t self, pid_t *out, int max) {
  char buf[4096];
  int count = 0;
  int fd = ::open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    long pid = 0;
    for (ssize_t i = 0; i <= n; ++i) {
      if (i < n && buf[i] >= '0' && buf[i] <= '9') {
        pid = pid * 10 + (buf[i] - '0');
        continue;
      }
      if (pid > 0 && count < max)
        out[count++] = pid_t(pid);
      pid = 0;
    }
    return count;
  }
  int dir = ::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return -1;
  for (;;) {
    long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0)
      break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char *name = buf + off + 19;
      off += reclen;
      if (name[0] < '1' || name[0] > '9')
        continue;
      char path[64] = "/proc/";
      size_t len = 6;
      for (const char *c = name; *c && len < 40; ++c)
        path[len++] = *c;
      std::memcpy(path + len, "/stat", 6);
      int statFd = ::open(path, O_RDONLY | O_CLOEXEC);
      if (statFd < 0)
        continue;
      char stat[512];
      ssize_t got = ::read(statFd, stat, sizeof stat - 1);
      ::close(statFd);
      if (got <= 0)
        continue;
      // "pid (comm) state ppid ...": the name may hold anything, so look
      // from its last ')'.
      ssize_t end = got - 1;
      while (end > 0 && stat[end] != ')')
        --end;
      long ppid = 0;
      ssize_t i = end + 4; // ") S " then the parent's pid.
      for (; i < got && stat[i] >= '0' && stat[i] <= '9'; ++i)
        ppid = ppid * 10 + (stat[i] - '0');
      if (ppid == long(self) && count < max) {
        long pid = 0;
        for (const char *c = name; *c >= '0' && *c <= '9'; ++c)
          pid = pid * 10 + (*c - '0');
        out[count++] = pid_t(pid);
      }
    }
  }
  ::close(dir);
  return count;
}

/// Sends `sig` to every child the guard has and to the group each leads.
/// An unreaped child's pid, and so its group id, cannot have been reused.
void signalChildren(int sig) {
  pid_t children[512];
  int count = listChildren(::getpid(), children, 512);
  for (int i = 0; i < count; ++i) {
    ::kill(-children[i], sig);
    ::kill(children[i], sig);
  }
}

/// Kills, round after round, every child the guard has (descendants are
/// reparented to it, a subreaper, as they lose their parents: a setsid'd
/// double-fork daemon too) and reaps them, until waitpid reports none left.
void sweepDescendants() {
  for (int round = 0; round < 2500; ++round) {
    pid_t got;
    while ((got = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (got < 0 && errno == ECHILD)
      return;
    signalChildren(SIGKILL);
    struct timespec pause = {0, 2 * 1000 * 1000};
    ::nanosleep(&pause, nullptr);
  }
}

/// The runner died: kills the tool's group and every descendant, then
/// exits.
[[noreturn]] void killEverything(pid_t tool) {
  ::kill(-tool, SIGKILL);
  sweepDescendants();
  ::_exit(128 + SIGKILL);
}

/// The guard's life after the tool started. Never returns.
///
/// A tool: when it exits, its group and every descendant left (in any
/// session) are killed, then the guard exits like the tool. A service
/// (`service`): the guard lives while any descendant does, so a service
/// whose first process daemonizes stays up; SIGTERM goes to all of them.
[[noreturn]] void superviseTool(pid_t tool, pid_t runner, bool service,
                                bool leaveDaemons) {
  sigset_t waitFor;
  sigemptyset(&waitFor);
  sigaddset(&waitFor, SIGCHLD);
  sigaddset(&waitFor, runnerDiedSignal);
  sigaddset(&waitFor, SIGTERM);
  sigaddset(&waitFor, killGroupSignal);
  bool toolReaped = false;
  int toolStatus = 0;
  for (;;) {
    siginfo_t info;
    int sig = ::sigwaitinfo(&waitFor, &info);
    if (sig < 0)
      continue;
    if (sig == runnerDiedSignal) {
      if (::getppid() != runner)
        killEverything(tool);
    } else if (sig == SIGTERM) {
      if (!toolReaped)
        ::kill(-tool, SIGTERM);
      if (service)
        signalChildren(SIGTERM);
    } else if (sig == killGroupSignal) {
      if (!toolReaped)
        ::kill(-tool, SIGKILL);
      if (service) {
        sweepDescendants();
        exitLike(toolReaped ? toolStatus : (SIGKILL & 0x7f));
      }
    } else if (!toolReaped) {
      siginfo_t ended;
      std::memset(&ended, 0, sizeof ended);
      if (::waitid(P_PID, id_t(tool), &ended, WEXITED | WNOHANG | WNOWAIT) ==
              0 &&
          ended.si_pid == tool) {
        // Whatever the tool left running in its group goes with it (the
        // tool, not yet reaped, keeps the group id from being reused);
        // for a tool, so does every other descendant.
        if (!service)
          ::kill(-tool, SIGKILL);
        while (::waitpid(tool, &toolStatus, 0) < 0 && errno == EINTR) {
        }
        toolReaped = true;
        if (!service) {
          if (!leaveDaemons)
            sweepDescendants();
          exitLike(toolStatus);
        }
      }
      reapOrphans(tool);
    }
    if (toolReaped) {
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD)
        exitLike(toolStatus); // A service's last process ended.
    }
  }
}

/// The guard: bound to the runner, starts the tool. Never returns.
[[noreturn]] void runGuard(const GuardedSpawn &s, pid_t runner, int statusFd,
                           int devnull) {
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  setDefault(SIGCHLD); // Not ignored: the guard must see its children end.
  ::prctl(PR_SET_PDEATHSIG, runnerDiedSignal);
  if (::getppid() != runner)
    ::_exit(128 + SIGKILL); // The runner is gone already.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t guard = ::getpid();
  pid_t tool = ::fork();
  if (tool < 0) {
    sendStatus(statusFd, 'E', errno);
    ::_exit(127);
  }
  if (tool == 0)
    execTool(s, guard, statusFd, devnull);
  sendStatus(statusFd, 'P', int(tool));
  // The guard keeps nothing of the runner's: no pipe stays open because of
  // it (another tool's output, this status pipe), no lock is held by it.
  ::dup2(devnull, 0);
  ::dup2(devnull, 1);
  ::dup2(devnull, 2);
  closeFrom(3, -1);
  superviseTool(tool, runner, s.service, s.leaveDaemons);
}

std::string errnoText(int err) { return std::strerror(err); }

} // namespace

Expected<pid_t> iterc::rt::spawnGuarded(const GuardedSpawn &s) {
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0)
    return Error(ErrorCode::Tool, "cannot create a pipe: " + errnoText(errno));
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    int err = errno;
    ::close(status[0]);
    ::close(status[1]);
    return Error(ErrorCode::Tool, "cannot open /dev/null: " + errnoText(err));
  }
  pid_t runner = ::getpid();
  pid_t guard = ::fork();
  if (guard == 0)
    runGuard(s, runner, status[1], devnull);
  int forkErr = errno;
  ::close(status[1]);
  ::close(devnull);
  if (guard < 0) {
    ::close(status[0]);
    return Error(ErrorCode::Tool, "cannot start " + std::string(s.program) +
                                      ": " + errnoText(forkErr));
  }
  // Until end of file: the tool's pid from the guard, or an errno.
  int toolPid = 0, err = 0;
  StatusRecord record;
  size_t got = 0;
  for (;;) {
    ssize_t n = ::read(status[0], reinterpret_cast<char *>(&record) + got,
                       sizeof record - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += size_t(n);
    if (got < sizeof record)
      continue;
    got = 0;
    if (record.tag == 'P')
      toolPid = record.value;
    else if (record.tag == 'E' && err == 0)
      err = record.value;
  }
  ::close(status[0]);
  if (err != 0 || toolPid <= 0) {
    ::kill(guard, killGroupSignal);
    while (::waitpid(guard, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Error(ErrorCode::Tool, "cannot start " + std::string(s.program) +
                                      ": " + errnoText(err ? err : ECHILD));
  }
  return guard;
}

void iterc::rt::relayTerminate(pid_t guard) { ::kill(guard, SIGTERM); }

void iterc::rt::relayKill(pid_t guard) { ::kill(guard, killGroupSignal); }

const char *iterc::rt::containmentMechanism() { return "subreaper"; }
