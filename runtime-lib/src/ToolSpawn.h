//===- ToolSpawn.h - Tool processes bound to the runner ---------*- C++ -*-===//
//
// This file declares how the process runner starts a tool so that it cannot
// outlive the runner. Between the runner and the tool sits a small guard
// process. The tool runs in its own session (and so its own process group);
// the guard waits for it, relays the runner's timeout signals to its whole
// group, and exits with the tool's status. When the runner dies (even by
// SIGKILL), the guard is told by the kernel (PR_SET_PDEATHSIG) and kills the
// tool's group and every descendant that was reparented to it (it is a child
// subreaper), so that no step of a killed run goes on to finish on its own.
// When the tool exits, the guard kills what it left behind the same way: a
// descendant in a session of its own (`setsid`, a double-fork daemon) is
// reparented to the guard and swept, so nothing outlives its step. A service
// is started with `service`: its guard lives as long as any of its processes
// does and takes them all down when stopped.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_TOOLSPAWN_H
#define ITERC_RT_SRC_TOOLSPAWN_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Tool.h"

#include <memory>

#include <sys/types.h>

namespace iterc::rt {

struct GuardedSpawn {
  const char *program = nullptr; ///< Absolute path, for execve.
  char *const *argv = nullptr;   ///< Null-terminated.
  char *const *envp = nullptr;   ///< Null-terminated, the whole environment.
  const char *workdir = nullptr;
  /// When >= 0, the tool starts in this opened directory (fchdir) and
  /// `workdir` is not looked up again.
  int workdirFd = -1;
  int stdoutFd = -1; ///< Becomes the tool's stdout.
  int stderrFd = -1; ///< Becomes the tool's stderr.
  /// A service: the guard waits for every descendant (a daemon the first
  /// process forked keeps the service up) instead of sweeping them when the
  /// first process exits; relayTerminate reaches all of them.
  bool service = false;
  /// A command whose purpose is to start a daemon that something else
  /// manages (`podman run -d` leaves conmon running): when it exits, only
  /// its process group is killed, not the descendants that left it.
  bool leaveDaemons = false;
};

/// Starts the guard and the tool under it. Returns the guard's pid, the
/// runner's only child: wait for it (its exit status is the tool's), and
/// signal it with relayTerminate/relayKill, never the tool directly. An
/// error when the guard cannot be started or the program cannot be
/// executed (the guard is then already reaped).
Expected<pid_t> spawnGuarded(const GuardedSpawn &spawn);

/// Asks the guard `guard` to send SIGTERM to the tool's whole group.
void relayTerminate(pid_t guard);
/// Asks the guard `guard` to send SIGKILL to the tool's whole group (a
/// service's guard: to every descendant, then it exits).
void relayKill(pid_t guard);

/// How processes are contained, for the step's event: "subreaper" (the
/// guard is a child subreaper that sweeps every descendant).
const char *containmentMechanism();

/// A tool runner for the runtime's own commands that start a daemon on
/// purpose (the container engine's `run -d`): like makeProcessRunner, but a
/// descendant that left the command's group survives the command (it still
/// dies with the runner).
std::unique_ptr<ToolRunner> makeDaemonStartingRunner();

} // namespace iterc::rt

#endif // ITERC_RT_SRC_TOOLSPAWN_H
