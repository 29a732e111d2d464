//===- AppInternal.h - Shared pieces of the executable's commands -*- C++
//-*-===//
//
// This file declares what the files implementing the command line share:
// the per-invocation context, the option parser, error reporting, variable
// and answer parsing, redaction and formatting helpers, and the command
// entry points. It is private to runtime-lib/src/App*.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_APPINTERNAL_H
#define ITERC_RT_SRC_APPINTERNAL_H

#include "iterc/rt/App.h"
#include "iterc/rt/Core.h"
#include "iterc/rt/Redact.h"
#include "iterc/rt/Store.h"
#include "iterc/rt/Workflow.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace iterc::rt::app {

/// Where a command writes: a C stream (the real main: stdout and stderr,
/// exactly what std::cout and std::cerr write through) or any other sink
/// (appMain with AppIo, as the tests call it, writes to std::ostreams from
/// AppStreams.cpp). Nothing here touches <ostream>, so a generated
/// executable does not carry the iostreams and locale machinery (about
/// 0.4 MB of a static link).
class Out {
public:
  using WriteFn = void (*)(void *sink, const char *data, size_t size);
  using FlushFn = void (*)(void *sink);

  explicit Out(std::FILE *file);
  Out(void *sink, WriteFn write, FlushFn flush)
      : sink(sink), writeFn(write), flushFn(flush) {}
  Out(const Out &) = delete;
  Out &operator=(const Out &) = delete;

  Out &write(const char *data, size_t size);
  void flush() { flushFn(sink); }

  Out &operator<<(std::string_view text) {
    return write(text.data(), text.size());
  }
  Out &operator<<(const char *text) { return *this << std::string_view(text); }
  Out &operator<<(const std::string &text) {
    return write(text.data(), text.size());
  }
  Out &operator<<(char c) { return write(&c, 1); }
  /// Integers in decimal, as std::ostream prints them.
  template <typename T,
            typename = std::enable_if_t<
                std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                !std::is_same_v<T, char> && !std::is_same_v<T, signed char> &&
                !std::is_same_v<T, unsigned char>>>
  Out &operator<<(T value) {
    return *this << std::to_string(value);
  }
  // Not needed so far; deleted so that nothing converts silently to char.
  Out &operator<<(bool) = delete;
  Out &operator<<(double) = delete;
  Out &operator<<(float) = delete;
  Out &operator<<(long double) = delete;
  Out &operator<<(const void *) = delete;
  template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>,
            typename = void>
  Out &operator<<(E) = delete;

private:
  void *sink;
  WriteFn writeFn;
  FlushFn flushFn;
};

/// The output streams and the terminal settings of one invocation.
struct Io {
  Out &out;
  Out &err;
  bool progressTty = false;
  std::string invocation;
  const std::atomic<bool> *interrupt = nullptr;
};

/// Parses `args` and runs the command they name, writing to `io`. Returns
/// the process exit code; never throws.
int runApp(const WorkflowDesc &wf, const AppInfo &info,
           const std::vector<std::string> &args, Io &io);

/// One invocation of the executable.
struct Ctx {
  const WorkflowDesc &wf;
  const AppInfo &info;
  Io &io;
  std::string prog;       ///< For messages: AppInfo::programName.
  std::string invocation; ///< For commands we print: argv[0] or prog.
};

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// Prints "<prog>: error: <message>" and the hint to see the command's help;
/// returns ExitUsage.
int usageError(Ctx &ctx, const std::string &message,
               const std::string &command);
/// Prints "<prog>: error: <message>" and returns `code`.
int errorExit(Ctx &ctx, const std::string &message, int code);
/// Prints "<prog>: warning: <message>".
void warn(Ctx &ctx, const std::string &message);

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

struct OptSpec {
  std::string name; ///< "--var"
  bool takesValue = false;
  std::string shortName; ///< "-o", or "".
};

struct Options {
  std::map<std::string, std::vector<std::string>> values;
  bool help = false;

  bool has(const std::string &name) const { return values.count(name) != 0; }
  /// The last value given (options given twice: the last one wins).
  std::string last(const std::string &name) const;
  const std::vector<std::string> &all(const std::string &name) const;
};

/// Parses `args[start..]` against `specs`. Accepts `--opt value`,
/// `--opt=value` and `-o value`; `-h`/`--help` anywhere sets `help`. On a
/// usage error prints it and returns nullopt (the exit code is ExitUsage).
std::optional<Options> parseOptions(Ctx &ctx, const std::string &command,
                                    const std::vector<std::string> &args,
                                    size_t start,
                                    const std::vector<OptSpec> &specs);

/// " (did you mean 'x'?)"-style hint: the closest candidate within a small
/// edit distance, or "".
std::string closest(const std::string &word,
                    const std::vector<std::string> &candidates);

//===----------------------------------------------------------------------===//
// Help
//===----------------------------------------------------------------------===//

std::string mainHelp(Ctx &ctx);
/// The help of a command, or "" for an unknown one.
std::string commandHelp(Ctx &ctx, const std::string &command);

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

using iterc::rt::expandEnv;
/// The NAMEs of every ${NAME} reference in `text`.
std::vector<std::string> envRefs(const std::string &text);

const char *typeName(FieldType type);
const char *kindName(NodeKind kind);

/// Reads a command-line value as a variable of type `var.type`; an error
/// message naming the variable and the expected type.
Expected<Json> parseVarValue(const VarDesc &var, const std::string &text);

/// A variable's value and where it came from.
struct ResolvedVar {
  Json value;
  std::string source; ///< "default", "preset NAME", "--var"
};

/// Defaults (with ${ENV} expanded), then the preset, then --var. Errors are
/// usage errors: unknown variable or preset, bad value, missing values.
Expected<std::map<std::string, ResolvedVar>>
resolveVars(const WorkflowDesc &wf, const std::vector<std::string> &varArgs,
            const std::string &preset, bool requireAll);

/// The NAME=VALUE arguments of --var-file (each file's bytes as they are:
/// regular files of at most 16 MiB) followed by those of --var, which win.
Expected<std::vector<std::string>> varArguments(const Options &opts);

/// Budget limits: the workflow's, with the --max-* options over them;
/// nullopt when no option was given.
Expected<std::optional<BudgetDesc>> budgetOverride(const WorkflowDesc &wf,
                                                   const Options &opts);

/// "90s", "10m", "1h30m", "250ms" or a number of seconds, in milliseconds.
std::optional<int64_t> parseDurationMs(const std::string &text);

/// The store directory: --store-dir, $ITERC_STORE_DIR, or ".iterc".
std::string storeDirFor(const Options &opts);

/// Replaces a run's secrets (Redact.h) with "***" in what is printed.
class Redactor : public SecretMask {
public:
  Redactor() : SecretMask("***") {}
  /// The run's secrets: its secret variables' values, the environment
  /// values their defaults read, the provider API keys.
  void addSecrets(const WorkflowDesc &wf,
                  const std::map<std::string, ResolvedVar> &vars);
  /// The same secrets as "[redacted]", for the files a run writes (a
  /// cassette).
  const SecretMask &fileMask() const { return files; }

private:
  SecretMask files;
};

//===----------------------------------------------------------------------===//
// Formatting
//===----------------------------------------------------------------------===//

/// JSON as text; invalid UTF-8 is replaced, never thrown on.
std::string dumpJson(const Json &value, int indent = -1);
/// `value` as one shell word, quoted only when needed.
std::string shellWord(const std::string &value);
/// "$0.001234"
std::string formatCost(double usd);
/// "1.234 s", "12 ms", "2 min 5 s"
std::string formatDuration(int64_t ms);
/// An object without the keys starting with '_' (run metadata).
Json withoutPrivate(const Json &value);
/// The exit code of a run that stopped with `status`.
int exitCodeFor(RunStatus status);

//===----------------------------------------------------------------------===//
// Commands
//===----------------------------------------------------------------------===//

int cmdRun(Ctx &ctx, const std::vector<std::string> &args);
int cmdResume(Ctx &ctx, const std::vector<std::string> &args);
int cmdInspect(Ctx &ctx, const std::vector<std::string> &args);
int cmdReport(Ctx &ctx, const std::vector<std::string> &args);
/// The hidden `__probe URL [TIMEOUT_MS]` command (AppProbe.cpp): the health
/// probe of the service images iterc generates.
int cmdProbe(Ctx &ctx, const std::vector<std::string> &args);

/// The Markdown report of a run (deterministic for a given record and log).
std::string renderReport(const WorkflowDesc &wf, const RunRecord &record,
                         const std::vector<Event> &events);

/// What an llm_response event's call sent, one line per message cut to
/// `width` characters ("sent user: ..."), for `inspect --events`.
std::string sentSummary(const Event &e, size_t width);
/// Every model call of a log with the whole text it sent, for `inspect
/// --prompts`.
std::string sentInFull(const std::vector<Event> &events);
/// The report's "Model inputs": per call, each message it sent.
std::string modelInputsMarkdown(const std::vector<Event> &events);

} // namespace iterc::rt::app

#endif // ITERC_RT_SRC_APPINTERNAL_H
