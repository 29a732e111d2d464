//===- Tool.h - Running tool commands and writing generated files -*- C++ -*-===//
//
// This file declares how tool nodes run: a subprocess in its own process
// group (a timeout kills the whole group), stdout and stderr captured up to a
// size cap, the environment passed by allowlist (values reach commands as
// data: ShellCommand.cpp, ShellScan.h). It also declares the confined writer for files that
// a node's output carries (no absolute paths, no `..`, no symlink escape).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_TOOL_H
#define ITERC_RT_TOOL_H

#include "iterc/rt/Core.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iterc::rt {

struct ToolInvocation {
  std::string command;      ///< Passed to `/bin/sh -c` (or the interpreter;
                            ///< over 64 KiB, /bin/sh runs it from a file).
  std::string interpreter;  ///< "" = /bin/sh -c; else e.g. "python3" with
                            ///< the command written to a script file.
  std::string workdir;      ///< Absolute directory to run in.
  /// When >= 0, an open directory the command starts in instead (fchdir, so
  /// no path is resolved again); `workdir` then only names it in messages.
  /// The caller keeps it open for the call.
  int workdirFd = -1;
  /// The complete environment of the child (nothing else is inherited).
  std::vector<std::pair<std::string, std::string>> env;
  int64_t timeoutMs = 600000;  ///< 0 or less: no timeout.
  size_t outputCap = 1 << 20;  ///< Per stream; the rest is dropped.
  /// A step of the run: stopped at once (SIGTERM, then SIGKILL) when a
  /// second Ctrl-C or SIGTERM hurries the process, and then an error with
  /// ErrorCode::Cancelled.
  bool stopWhenHurried = false;
  /// Asked while the command runs (every few ms): an error stops it as a
  /// timeout does (SIGTERM to its group, then SIGKILL) and is the result's
  /// `interrupted` (the run's duration budget, an interrupt). May be empty.
  std::function<std::optional<Error>()> abandon;
};

struct ToolResult {
  int exitCode = -1;     ///< -1 when killed by a signal.
  int signal = 0;
  bool timedOut = false;
  /// Why the runner stopped the command before it ended (`abandon`).
  std::optional<Error> interrupted;
  std::string stdoutText;
  std::string stderrText;
  bool stdoutTruncated = false;
  bool stderrTruncated = false;
  int64_t stdoutBytes = 0; ///< Every byte the command wrote, kept or not.
  int64_t stderrBytes = 0;
  int64_t durationMs = 0;
  /// How the step's processes were kept contained (see ToolSpawn.h).
  std::string containment;
};

class ToolRunner {
public:
  virtual ~ToolRunner() = default;
  /// Runs to completion (or timeout). An error only when the process could
  /// not be started; a failing command is a result with its exit code.
  virtual Expected<ToolResult> run(const ToolInvocation &invocation) = 0;
};

std::unique_ptr<ToolRunner> makeProcessRunner();

/// Finds `program` the way a child with environment `env` would: on its
/// PATH (or the default path when it has none). Names with a slash are used
/// as they are. nullopt when no executable file is found.
std::optional<std::string>
resolveProgram(const std::string &program,
               const std::vector<std::pair<std::string, std::string>> &env);

/// Splits text on blanks (space, tab, newline) into non-empty words, e.g.
/// an interpreter spec such as "python3 -u".
std::vector<std::string> splitWords(std::string_view text);

/// Adds `stdout_truncated` and `stdout_bytes` (the same for stderr) to
/// `object` for each stream the cap cut.
void addTruncation(Json &object, const ToolResult &result);

/// " (stdout was cut: ...)" naming each stream the cap `cap` cut, or "".
std::string truncationNote(const ToolResult &result, size_t cap);

/// `value` as one shell word: 'it'\''s' style single quoting.
std::string shellQuote(std::string_view value);

/// Asks whether a tool may run (`approval: required`).
class Approver {
public:
  virtual ~Approver() = default;
  virtual bool approve(const std::string &node, const std::string &command) = 0;
};

/// Whether a workspace-relative path names `.git` or something under it (a
/// component equal to `.git`, in any case): the file tools write none.
bool isGitMetadata(std::string_view relativePath);
inline constexpr const char *gitMetadataRefusal =
    "is git metadata; the repository's own files under .git are not written";

/// Opens the existing directory `relativePath` inside `workspace` one
/// component at a time. Refuses (ErrorCode::WorkspaceEscape) absolute
/// paths, `..` components and symlinks anywhere on the way. Returns a
/// descriptor (close-on-exec) the caller closes.
Expected<int> openWorkspaceDir(const std::string &workspace,
                               const std::string &relativePath);

/// Writes `content` to `relativePath` inside `workspace`, creating parent
/// directories. Refuses (ErrorCode::WorkspaceEscape) absolute paths, `..`
/// components, paths under `.git` (isGitMetadata), and paths that would
/// pass through a symlink.
Status writeWorkspaceFile(const std::string &workspace,
                          const std::string &relativePath,
                          const std::string &content);

} // namespace iterc::rt

#endif // ITERC_RT_TOOL_H
