//===- App.h - The command line of a compiled workflow ----------*- C++ -*-===//
//
// This file declares the front of every generated executable: the commands
// `run`, `resume`, `inspect`, `report`, `graph`, `version` and `help`, their
// options, and the exit codes scripts can rely on. A generated main() calls
// appMain(wf, info, argc, argv); tests call the overload that takes the
// arguments and the output streams explicitly. Nothing heavy (providers,
// transports, the run store) is built before the arguments are parsed, so
// `--version` and `--help` are immediate. docs/executable.md describes the
// command line for users.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_APP_H
#define ITERC_RT_APP_H

#include "iterc/rt/Workflow.h"

#include <ostream>
#include <atomic>
#include <string>
#include <vector>

namespace iterc::rt {

/// What the executable knows about itself beyond the workflow tables.
struct AppInfo {
  std::string programName;  ///< e.g. "pr_review" (used in --help/usage)
  std::string sourcePath;   ///< Relative path of the .iter source.
  std::string graphMermaid; ///< Pre-rendered by the compiler; `graph`.
  std::string graphDot;     ///< `graph --format=dot`.
};

/// The process exit codes of a generated executable.
enum AppExitCode : int {
  ExitFinished = 0,      ///< The run reached `done` (or the command worked).
  ExitFailed = 1,        ///< Failed: `fail`, provider, schema, replay miss...
  ExitUsage = 2,         ///< Bad command line, variables, answers or run id.
  ExitPaused = 3,        ///< Paused at a human gate: answer it with `resume`.
  ExitBudget = 4,        ///< A budget limit was reached (resumable).
  ExitLoopExhausted = 5, ///< A loop reached its cap with no way out.
  ExitNoProgress = 6,    ///< A loop stopped making progress.
  ExitCancelled = 7,     ///< Cancelled or interrupted.
  ExitRunInUse = 8,      ///< Another process is running or resuming the run.
};

/// Where a command writes, and how progress is shown.
struct AppIo {
  std::ostream &out;
  std::ostream &err;
  /// Show progress as one updating line on `err` (the real main passes
  /// isatty(2)); otherwise one line per finished node.
  bool progressTty = false;
  /// How the user invoked the executable (argv[0]), used in the `resume`
  /// command printed for a paused run; empty means AppInfo::programName.
  std::string invocation = {};
  /// Set to stop a run or resume before its next step (exit 7, resumable).
  /// The real main points it at a flag its SIGINT/SIGTERM handler sets.
  const std::atomic<bool> *interrupt = nullptr;
};

/// What a generated main() calls. Returns the process exit code; never
/// throws.
int appMain(const WorkflowDesc &wf, const AppInfo &info, int argc, char **argv);

/// The testable core: explicit arguments (without argv[0]) and streams.
/// Returns the process exit code; never throws.
int appMain(const WorkflowDesc &wf, const AppInfo &info,
            const std::vector<std::string> &args, AppIo io);

} // namespace iterc::rt

#endif // ITERC_RT_APP_H
