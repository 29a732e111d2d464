//===- AgentTools.cpp - Built-in workspace tools and toolbox chains -------===//
//
// This file implements the tools an agent node can call without any MCP
// server: reading, listing, searching and editing files of the run's
// workspace, running shell commands in it, and asking git about it. Every
// path a model passes is resolved inside the workspace first: absolute
// paths and `..` components are refused, and an existing path must still be
// inside the workspace after realpath(), so a symlink cannot lead out.
// Writes go through writeWorkspaceFile, which refuses symlinks on the way.
//
// A tool's own failure (a missing file, a bad regex, a non-zero exit) is a
// result the model sees, `{"error": "..."}`; an Error is returned only when
// the call cannot be made at all (an unknown tool). Every text handed back
// is capped and made valid UTF-8, and no exception leaves a call.
//
// ToolboxChain, at the end, asks several toolboxes in order.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/AgentTools.h"

#include "GitShadow.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// read_file returns at most this much text.
constexpr size_t readCap = 256 * 1024;
/// list_files and tree show at most this many entries.
constexpr size_t listCap = 1000;
constexpr size_t treeCap = 1000;
constexpr int64_t treeMaxDepth = 20;
/// search_codebase reports at most this many lines, each cut to a length.
constexpr size_t searchMatchCap = 200;
constexpr size_t searchLineCap = 300;
/// Files larger than this are not searched (nor patched).
constexpr off_t searchFileCap = 8 * 1024 * 1024;
constexpr off_t patchFileCap = 16 * 1024 * 1024;
/// run_command and git output, per stream.
constexpr size_t commandOutputCap = 128 * 1024;
/// How much of a file decides whether it is binary (a NUL byte).
constexpr size_t binarySniff = 8192;

std::string errnoText(int err) { return std::strerror(err); }

/// `text` with invalid UTF-8 sequences replaced by U+FFFD, so that the
/// result can always be serialized.
std::string validUtf8(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  const auto *s = reinterpret_cast<const unsigned char *>(text.data());
  size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(char(c));
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80)
        ok = false;
      else
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (ok) {
      // Overlong forms, surrogates and values past U+10FFFF are invalid.
      static const uint32_t minimum[5] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= minimum[len] && cp <= 0x10FFFF &&
           !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(text, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

/// The longest prefix of `text` of at most `cap` bytes that does not end
/// inside a UTF-8 sequence.
std::string utf8Prefix(const std::string &text, size_t cap) {
  if (text.size() <= cap)
    return text;
  size_t end = cap;
  // Step back over continuation bytes to the start of the cut sequence.
  size_t back = 0;
  while (end > 0 && back < 3 &&
         (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
    ++back;
  }
  return text.substr(0, end);
}

Json errorResult(const std::string &message) {
  return Json{{"error", validUtf8(message)}};
}

/// Closes a descriptor on scope exit.
class FdGuard {
public:
  explicit FdGuard(int fd) : fd(fd) {}
  FdGuard(const FdGuard &) = delete;
  FdGuard &operator=(const FdGuard &) = delete;
  ~FdGuard() {
    if (fd >= 0)
      ::close(fd);
  }
  int get() const { return fd; }

private:
  int fd;
};

/// Closes a directory stream on scope exit.
class DirGuard {
public:
  explicit DirGuard(DIR *dir) : dir(dir) {}
  DirGuard(const DirGuard &) = delete;
  DirGuard &operator=(const DirGuard &) = delete;
  ~DirGuard() {
    if (dir)
      ::closedir(dir);
  }
  DIR *get() const { return dir; }

private:
  DIR *dir;
};

/// A path inside the workspace.
struct WorkspacePath {
  std::string relative; ///< Normalized, "" for the workspace itself.
  std::string absolute; ///< Symlink-free when the path exists.
  bool exists = false;

  /// How the path is shown to the model.
  std::string shown() const { return relative.empty() ? "." : relative; }
  /// `name` inside this path, relative to the workspace.
  std::string child(const std::string &name) const {
    return relative.empty() ? name : relative + "/" + name;
  }
};

/// The realpath of `path`, or nullopt with the errno in `err`.
std::optional<std::string> realPath(const std::string &path, int &err) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) {
    err = errno;
    return std::nullopt;
  }
  err = 0;
  return std::string(buf);
}

bool isInside(const std::string &path, const std::string &root) {
  if (root == "/")
    return true;
  return path == root ||
         (path.size() > root.size() &&
          path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

/// One directory entry, classified without following symlinks.
struct Entry {
  std::string name;
  bool isDir = false;
  bool isFile = false;
  bool isLink = false;
};

/// The entries of directory `path`, sorted by name, without "." and "..".
Expected<std::vector<Entry>> readDirectory(const std::string &path) {
  DirGuard dir(::opendir(path.c_str()));
  if (!dir.get())
    return Error(ErrorCode::Tool, errnoText(errno));
  int fd = ::dirfd(dir.get());
  std::vector<Entry> entries;
  while (dirent *d = ::readdir(dir.get())) {
    std::string name = d->d_name;
    if (name == "." || name == "..")
      continue;
    Entry e;
    e.name = name;
    struct stat st;
    if (::fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      e.isDir = S_ISDIR(st.st_mode);
      e.isFile = S_ISREG(st.st_mode);
      e.isLink = S_ISLNK(st.st_mode);
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry &a, const Entry &b) { return a.name < b.name; });
  return entries;
}

/// Reads a whole regular file of at most `cap` bytes.
Expected<std::string> readWholeFile(const std::string &path, off_t cap) {
  FdGuard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0)
    return Error(ErrorCode::Tool, errnoText(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return Error(ErrorCode::Tool, errnoText(errno));
  if (!S_ISREG(st.st_mode))
    return Error(ErrorCode::Tool, "not a regular file");
  if (st.st_size > cap)
    return Error(ErrorCode::Tool,
                 "file is larger than " + std::to_string(cap) + " bytes");
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return Error(ErrorCode::Tool, errnoText(errno));
    if (n == 0)
      break;
    text.append(buf, size_t(n));
    if (text.size() > size_t(cap))
      return Error(ErrorCode::Tool,
                   "file is larger than " + std::to_string(cap) + " bytes");
  }
  return text;
}

bool looksBinary(const std::string &text) {
  return text.find('\0', 0) < std::min(text.size(), binarySniff);
}

/// An optional string argument; nullopt with `problem` set when present
/// but not a string.
std::optional<std::string> stringArg(const Json &args, const char *key,
                                     std::string &problem) {
  if (!args.contains(key) || args[key].is_null())
    return std::nullopt;
  if (!args[key].is_string()) {
    problem = std::string("argument '") + key + "' must be a string";
    return std::nullopt;
  }
  return args[key].get<std::string>();
}

/// An optional integer argument (a JSON integer, an integral number or a
/// numeric string).
std::optional<int64_t> intArg(const Json &args, const char *key,
                              std::string &problem) {
  if (!args.contains(key) || args[key].is_null())
    return std::nullopt;
  const Json &v = args[key];
  if (v.is_number_integer())
    return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d > -1e15 && d < 1e15 && d == double(int64_t(d)))
      return int64_t(d);
  }
  if (v.is_string()) {
    const std::string &s = v.get_ref<const std::string &>();
    char *end = nullptr;
    errno = 0;
    long long parsed = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end && *end == '\0' && errno == 0)
      return int64_t(parsed);
  }
  problem = std::string("argument '") + key + "' must be an integer";
  return std::nullopt;
}

/// An optional boolean argument (also "true"/"false").
std::optional<bool> boolArg(const Json &args, const char *key,
                            std::string &problem) {
  if (!args.contains(key) || args[key].is_null())
    return std::nullopt;
  const Json &v = args[key];
  if (v.is_boolean())
    return v.get<bool>();
  if (v.is_string() && (v == "true" || v == "false"))
    return v == "true";
  problem = std::string("argument '") + key + "' must be a boolean";
  return std::nullopt;
}

Json schemaObject(Json properties, std::vector<std::string> required) {
  Json schema = Json::object();
  schema["type"] = "object";
  schema["properties"] = std::move(properties);
  Json req = Json::array();
  for (std::string &r : required)
    req.push_back(std::move(r));
  schema["required"] = std::move(req);
  schema["additionalProperties"] = false;
  return schema;
}

Json prop(const char *type, const std::string &description) {
  return Json{{"type", type}, {"description", description}};
}

std::vector<ToolSpec> builtinSpecs() {
  std::vector<ToolSpec> specs;
  const std::string pathNote =
      " Relative to the workspace root; absolute paths and '..' are refused.";
  {
    Json p = Json::object();
    p["path"] = prop("string", "The file to read." + pathNote);
    p["offset"] = prop("integer", "The 1-based line to start at (default 1).");
    p["offset"]["minimum"] = 1;
    p["limit"] = prop("integer", "The most lines to return (default: all, "
                                 "up to 256 KiB of text).");
    p["limit"]["minimum"] = 1;
    specs.push_back({"read_file",
                     "Reads a text file of the workspace. Long files are cut "
                     "at 256 KiB; use offset/limit to read further.",
                     schemaObject(std::move(p), {"path"})});
  }
  {
    Json p = Json::object();
    p["path"] =
        prop("string", "The directory to list (default \".\")." + pathNote);
    specs.push_back({"list_files",
                     "Lists the entries of a workspace directory, sorted, "
                     "directories with a trailing '/'.",
                     schemaObject(std::move(p), {})});
  }
  {
    Json p = Json::object();
    p["path"] =
        prop("string", "The directory to show (default \".\")." + pathNote);
    p["depth"] = prop("integer", "How many levels to descend (default 3).");
    p["depth"]["minimum"] = 1;
    p["depth"]["maximum"] = treeMaxDepth;
    specs.push_back({"tree",
                     "Shows a workspace directory as an indented tree "
                     "(directories end in '/', .git is skipped, at most " +
                         std::to_string(treeCap) + " entries).",
                     schemaObject(std::move(p), {})});
  }
  {
    Json p = Json::object();
    p["pattern"] = prop("string", "The text to look for (a substring, or an "
                                  "extended regular expression, as grep -E "
                                  "reads it, when regex is true).");
    p["path"] = prop("string", "The directory or file to search (default "
                               "\".\")." +
                                   pathNote);
    p["regex"] = prop("boolean", "Treat pattern as a regular expression "
                                 "(default false).");
    specs.push_back({"search_codebase",
                     "Searches the workspace's text files recursively and "
                     "returns up to " +
                         std::to_string(searchMatchCap) +
                         " matching lines as 'file:line: text' (.git and "
                         "binary files are skipped).",
                     schemaObject(std::move(p), {"pattern"})});
  }
  {
    Json p = Json::object();
    p["path"] = prop("string", "The file to write; parent directories are "
                               "created." +
                                   pathNote);
    p["content"] = prop("string", "The complete new content of the file.");
    specs.push_back({"write_file",
                     "Creates or overwrites a file of the workspace.",
                     schemaObject(std::move(p), {"path", "content"})});
  }
  {
    Json p = Json::object();
    p["path"] = prop("string", "The file to edit." + pathNote);
    p["old"] = prop("string", "The exact text to replace; it must occur "
                              "exactly once in the file.");
    p["new"] = prop("string", "The replacement text.");
    specs.push_back({"patch",
                     "Edits a workspace file by replacing the one occurrence "
                     "of 'old' with 'new'. Fails when 'old' occurs zero or "
                     "several times (add context to make it unique).",
                     schemaObject(std::move(p), {"path", "old", "new"})});
  }
  {
    Json p = Json::object();
    p["command"] = prop("string", "The shell command (run by /bin/sh -c).");
    specs.push_back({"run_command",
                     "Runs a shell command in the workspace directory and "
                     "returns its exit_code, stdout and stderr (each cut at " +
                         std::to_string(commandOutputCap / 1024) + " KiB).",
                     schemaObject(std::move(p), {"command"})});
  }
  {
    Json p = Json::object();
    p["args"] = Json{{"type", "array"},
                     {"items", Json{{"type", "string"}}},
                     {"description", "Extra arguments for git diff, e.g. "
                                     "[\"--staged\"] or [\"HEAD~1\", \"--\", "
                                     "\"src\"]."}};
    specs.push_back({"git_diff",
                     "Shows `git diff` of the workspace repository.",
                     schemaObject(std::move(p), {})});
  }
  specs.push_back({"git_status",
                   "Shows `git status --short` of the workspace repository.",
                   schemaObject(Json::object(), {})});
  return specs;
}

class BuiltinToolbox final : public Toolbox {
public:
  BuiltinToolbox(std::string workspace, ToolRunner &runner, int64_t timeoutMs,
                 std::function<std::optional<Error>()> abandon)
      : workspace(std::move(workspace)), runner(runner), timeoutMs(timeoutMs),
        abandon(std::move(abandon)), specs(builtinSpecs()) {}

  std::optional<ToolSpec> find(const std::string &name) override {
    for (const ToolSpec &spec : specs)
      if (spec.name == name)
        return spec;
    return std::nullopt;
  }

  Expected<Json> call(const std::string &name, const Json &arguments) override;

  bool mutates(const std::string &name) override {
    return name == "write_file" || name == "patch" || name == "run_command";
  }

private:
  std::string workspace;
  ToolRunner &runner;
  int64_t timeoutMs;
  std::function<std::optional<Error>()> abandon;
  std::vector<ToolSpec> specs;

  Expected<std::string> workspaceRoot() const;
  Expected<WorkspacePath> resolve(const std::string &path,
                                  bool allowMissing) const;
  std::vector<std::pair<std::string, std::string>>
  environment(const std::string &root) const;

  Json readFile(const Json &args);
  Json listFiles(const Json &args);
  Json tree(const Json &args);
  Json searchCodebase(const Json &args);
  Json writeFile(const Json &args);
  Json patch(const Json &args);
  Json runCommand(const Json &args);
  Json runGit(const std::string &what, const std::string &subcommand,
              const std::string &emptyText);
};

Expected<std::string> BuiltinToolbox::workspaceRoot() const {
  if (workspace.empty())
    return Error(ErrorCode::Tool, "the run has no workspace");
  int err = 0;
  std::optional<std::string> root = realPath(workspace, err);
  if (!root)
    return Error(ErrorCode::Tool,
                 "workspace " + workspace + ": " + errnoText(err));
  return *root;
}

Expected<WorkspacePath> BuiltinToolbox::resolve(const std::string &path,
                                                bool allowMissing) const {
  auto refuse = [&](const std::string &why) {
    return Error(ErrorCode::WorkspaceEscape, "path '" + path + "' " + why);
  };
  if (path.find('\0') != std::string::npos)
    return refuse("contains a NUL byte");
  if (!path.empty() && path.front() == '/')
    return refuse("is absolute; use a path relative to the workspace root");
  std::string relative;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos)
      end = path.size();
    std::string part = path.substr(begin, end - begin);
    if (part == "..")
      return refuse("contains a '..' component; paths must stay inside the "
                    "workspace");
    if (!part.empty() && part != ".")
      relative += (relative.empty() ? "" : "/") + part;
    begin = end + 1;
  }

  Expected<std::string> root = workspaceRoot();
  if (!root)
    return root.error();
  WorkspacePath result;
  result.relative = relative;
  std::string joined = relative.empty() ? *root : *root + "/" + relative;
  int err = 0;
  std::optional<std::string> real = realPath(joined, err);
  if (real) {
    if (!isInside(*real, *root))
      return refuse("resolves outside the workspace (through a symlink)");
    result.absolute = *real;
    result.exists = true;
    return result;
  }
  struct stat st;
  if (::lstat(joined.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    return refuse("is a symlink to a missing or inaccessible target");
  if (err != ENOENT || !allowMissing)
    return Error(ErrorCode::Tool,
                 "'" + result.shown() + "': " + errnoText(err));
  // A new file: its deepest existing ancestor must be inside.
  std::string ancestor = joined;
  for (;;) {
    size_t slash = ancestor.rfind('/');
    if (slash == std::string::npos || slash < root->size())
      break;
    ancestor.resize(slash);
    int upErr = 0;
    std::optional<std::string> up = realPath(ancestor, upErr);
    if (up) {
      if (!isInside(*up, *root))
        return refuse("resolves outside the workspace (through a symlink)");
      break;
    }
  }
  result.absolute = joined;
  return result;
}

std::vector<std::pair<std::string, std::string>>
BuiltinToolbox::environment(const std::string &root) const {
  auto fromEnv = [](const char *name, const std::string &fallback) {
    const char *v = std::getenv(name);
    return std::string(v && *v ? v : fallback);
  };
  return {{"PATH", fromEnv("PATH", "/usr/local/bin:/usr/bin:/bin")},
          {"HOME", fromEnv("HOME", root)},
          {"LANG", fromEnv("LANG", "C.UTF-8")}};
}

Expected<Json> BuiltinToolbox::call(const std::string &name,
                                    const Json &arguments) {
  if (!find(name))
    return Error(ErrorCode::Tool, "unknown tool '" + name + "'");
  if (!arguments.is_null() && !arguments.is_object())
    return errorResult("the arguments of '" + name + "' must be an object");
  const Json args = arguments.is_null() ? Json::object() : arguments;
  try {
    if (name == "read_file")
      return readFile(args);
    if (name == "list_files")
      return listFiles(args);
    if (name == "tree")
      return tree(args);
    if (name == "search_codebase")
      return searchCodebase(args);
    if (name == "write_file")
      return writeFile(args);
    if (name == "patch")
      return patch(args);
    if (name == "run_command")
      return runCommand(args);
    if (name == "git_diff") {
      std::string command = "diff --no-color --no-ext-diff --no-textconv "
                            "--ignore-submodules=all";
      if (args.contains("args") && !args["args"].is_null()) {
        const Json &extra = args["args"];
        std::vector<std::string> words;
        if (extra.is_string()) {
          // Lenient: a single string is split on whitespace.
          words = splitWords(extra.get_ref<const std::string &>());
        } else if (extra.is_array()) {
          for (const Json &w : extra) {
            if (!w.is_string())
              return errorResult("argument 'args' must be an array of "
                                 "strings");
            words.push_back(w.get<std::string>());
          }
        } else {
          return errorResult("argument 'args' must be an array of strings");
        }
        for (const std::string &w : words) {
          // Options that write files, read outside the repository or run
          // configured programs have no place in a read-only tool.
          for (const char *banned :
               {"--output", "--no-index", "--ext-diff", "--textconv",
                "--submodule", "--ignore-submodules"})
            if (w.rfind(banned, 0) == 0)
              return errorResult("git_diff does not allow '" + w + "'");
          command += " " + shellQuote(w);
        }
      }
      return runGit("git diff", command, "(no differences)");
    }
    if (name == "git_status")
      return runGit("git status", "status --short --ignore-submodules=all",
                    "(clean: no changes)");
  } catch (const std::exception &e) {
    return errorResult(name + " failed: " + e.what());
  } catch (...) {
    return errorResult(name + " failed");
  }
  return Error(ErrorCode::Tool, "unknown tool '" + name + "'");
}

Json BuiltinToolbox::readFile(const Json &args) {
  std::string problem;
  std::optional<std::string> path = stringArg(args, "path", problem);
  std::optional<int64_t> offset = intArg(args, "offset", problem);
  std::optional<int64_t> limit = intArg(args, "limit", problem);
  if (!problem.empty())
    return errorResult(problem);
  if (!path)
    return errorResult("read_file needs a 'path'");
  if (offset && *offset < 1)
    return errorResult("'offset' is a 1-based line number (at least 1)");
  if (limit && *limit < 1)
    return errorResult("'limit' must be at least 1");
  Expected<WorkspacePath> where = resolve(*path, false);
  if (!where)
    return errorResult(where.error().message);

  FdGuard fd(
      ::open(where->absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0)
    return errorResult("cannot read '" + where->shown() +
                       "': " + errnoText(errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return errorResult("cannot read '" + where->shown() +
                       "': " + errnoText(errno));
  if (S_ISDIR(st.st_mode))
    return errorResult("'" + where->shown() +
                       "' is a directory; use list_files or tree");
  if (!S_ISREG(st.st_mode))
    return errorResult("'" + where->shown() + "' is not a regular file");
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);

  const int64_t first = offset.value_or(1);
  const int64_t maxLines = limit.value_or(INT64_MAX);
  std::string out;
  std::string line;
  bool lineOverflow = false; // The current line was longer than the cap.
  int64_t lineNo = 0;        // Lines completed so far.
  int64_t taken = 0;
  bool capped = false;
  bool done = false;
  bool sniffed = false;
  std::string head;

  // Adds a complete line (with its newline, if any); false to stop.
  auto takeLine = [&]() {
    ++lineNo;
    if (lineNo < first)
      return true;
    if (out.size() + line.size() > readCap || lineOverflow) {
      if (out.empty()) {
        out = utf8Prefix(line, readCap);
        ++taken;
      }
      capped = true;
      return false;
    }
    out += line;
    ++taken;
    return taken < maxLines;
  };

  char buf[65536];
  while (!done) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errorResult("cannot read '" + where->shown() +
                         "': " + errnoText(errno));
    if (n == 0)
      break;
    if (!sniffed) {
      head.append(buf, size_t(n));
      if (head.size() >= binarySniff)
        sniffed = true;
      if (looksBinary(head))
        return errorResult("'" + where->shown() + "' is a binary file (" +
                           std::to_string(st.st_size) + " bytes)");
    }
    for (ssize_t i = 0; i < n && !done; ++i) {
      char c = buf[i];
      if (line.size() <= readCap)
        line.push_back(c);
      else
        lineOverflow = true;
      if (c == '\n') {
        if (!takeLine())
          done = true;
        line.clear();
        lineOverflow = false;
      }
    }
  }
  if (!done && !line.empty())
    takeLine();
  if (lineNo < first && first > 1)
    return errorResult("offset " + std::to_string(first) +
                       " is past the end of '" + where->shown() + "' (" +
                       std::to_string(lineNo) + " lines)");
  std::string text = validUtf8(out);
  if (capped) {
    int64_t last = first + taken - 1;
    text += "\n[truncated: output is limited to 256 KiB; shown lines " +
            std::to_string(first) + "-" + std::to_string(last) +
            " of a longer file; call read_file with offset=" +
            std::to_string(last + 1) + " to continue]";
  }
  return text;
}

Json BuiltinToolbox::listFiles(const Json &args) {
  std::string problem;
  std::optional<std::string> path = stringArg(args, "path", problem);
  if (!problem.empty())
    return errorResult(problem);
  Expected<WorkspacePath> where = resolve(path.value_or("."), false);
  if (!where)
    return errorResult(where.error().message);
  struct stat st;
  if (::stat(where->absolute.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return errorResult("'" + where->shown() + "' is not a directory");
  Expected<std::vector<Entry>> entries = readDirectory(where->absolute);
  if (!entries)
    return errorResult("cannot list '" + where->shown() +
                       "': " + entries.error().message);
  if (entries->empty())
    return std::string("(empty directory)");
  std::string text;
  size_t shown = 0;
  for (const Entry &e : *entries) {
    if (shown == listCap)
      break;
    text += e.name + (e.isDir ? "/" : "") + "\n";
    ++shown;
  }
  if (entries->size() > shown)
    text += "[truncated: " + std::to_string(entries->size() - shown) +
            " more entries not shown]\n";
  return validUtf8(text);
}

Json BuiltinToolbox::tree(const Json &args) {
  std::string problem;
  std::optional<std::string> path = stringArg(args, "path", problem);
  std::optional<int64_t> depthArg = intArg(args, "depth", problem);
  if (!problem.empty())
    return errorResult(problem);
  int64_t depth = depthArg.value_or(3);
  if (depth < 1)
    return errorResult("'depth' must be at least 1");
  depth = std::min(depth, treeMaxDepth);
  Expected<WorkspacePath> where = resolve(path.value_or("."), false);
  if (!where)
    return errorResult(where.error().message);
  struct stat st;
  if (::stat(where->absolute.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return errorResult("'" + where->shown() + "' is not a directory");

  std::string text = where->shown() + "/\n";
  size_t count = 0;
  bool capped = false;
  // Depth-first, in sorted order; the recursion is bounded by treeMaxDepth.
  std::function<void(const std::string &, int64_t)> walk =
      [&](const std::string &dir, int64_t level) {
        Expected<std::vector<Entry>> entries = readDirectory(dir);
        if (!entries) {
          text += std::string(size_t(level) * 2, ' ') +
                  "[unreadable: " + entries.error().message + "]\n";
          return;
        }
        for (const Entry &e : *entries) {
          if (e.name == ".git")
            continue;
          if (count >= treeCap) {
            capped = true;
            return;
          }
          ++count;
          text += std::string(size_t(level) * 2, ' ') + e.name +
                  (e.isDir ? "/" : "") + "\n";
          if (e.isDir && level < depth)
            walk(dir + "/" + e.name, level + 1);
          if (capped)
            return;
        }
      };
  walk(where->absolute, 1);
  if (capped)
    text += "[truncated after " + std::to_string(treeCap) + " entries]\n";
  return validUtf8(text);
}

Json BuiltinToolbox::searchCodebase(const Json &args) {
  std::string problem;
  std::optional<std::string> pattern = stringArg(args, "pattern", problem);
  std::optional<std::string> path = stringArg(args, "path", problem);
  std::optional<bool> useRegex = boolArg(args, "regex", problem);
  if (!problem.empty())
    return errorResult(problem);
  if (!pattern || pattern->empty())
    return errorResult("search_codebase needs a non-empty 'pattern'");
  // POSIX extended syntax (grep -E), from the C library: a pattern means
  // what it means to grep, and the executable carries no regex engine of
  // its own.
  struct Compiled {
    regex_t re;
    bool ok = false;
    ~Compiled() {
      if (ok)
        ::regfree(&re);
    }
  } compiled;
  if (useRegex.value_or(false)) {
    int rc =
        ::regcomp(&compiled.re, pattern->c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char message[256];
      ::regerror(rc, &compiled.re, message, sizeof message);
      return errorResult("invalid regular expression '" + *pattern +
                         "': " + message);
    }
    compiled.ok = true;
  }
  Expected<WorkspacePath> where = resolve(path.value_or("."), false);
  if (!where)
    return errorResult(where.error().message);

  std::string text;
  size_t matches = 0;
  bool capped = false;

  auto searchFile = [&](const std::string &absolute,
                        const std::string &relative) {
    Expected<std::string> content = readWholeFile(absolute, searchFileCap);
    if (!content || looksBinary(*content))
      return;
    const std::string &body = *content;
    size_t begin = 0;
    int64_t lineNo = 0;
    while (begin < body.size() && !capped) {
      size_t end = body.find('\n', begin);
      if (end == std::string::npos)
        end = body.size();
      ++lineNo;
      std::string line = body.substr(begin, end - begin);
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      bool hit = compiled.ok
                     ? ::regexec(&compiled.re, line.c_str(), 0, nullptr, 0) == 0
                     : line.find(*pattern) != std::string::npos;
      if (hit) {
        if (matches == searchMatchCap) {
          capped = true;
          break;
        }
        ++matches;
        std::string shown = line.size() > searchLineCap
                                ? utf8Prefix(line, searchLineCap) + "..."
                                : line;
        text += relative + ":" + std::to_string(lineNo) + ": " + shown + "\n";
      }
      begin = end + 1;
    }
  };

  std::function<void(const std::string &, const std::string &)> walk =
      [&](const std::string &absolute, const std::string &relative) {
        Expected<std::vector<Entry>> entries = readDirectory(absolute);
        if (!entries)
          return;
        for (const Entry &e : *entries) {
          if (capped)
            return;
          if (e.isLink || e.name == ".git")
            continue;
          std::string childRel =
              relative.empty() ? e.name : relative + "/" + e.name;
          if (e.isDir)
            walk(absolute + "/" + e.name, childRel);
          else if (e.isFile)
            searchFile(absolute + "/" + e.name, childRel);
        }
      };

  struct stat st;
  if (::stat(where->absolute.c_str(), &st) != 0)
    return errorResult("cannot search '" + where->shown() +
                       "': " + errnoText(errno));
  if (S_ISDIR(st.st_mode))
    walk(where->absolute, where->relative);
  else if (S_ISREG(st.st_mode))
    searchFile(where->absolute, where->shown());
  else
    return errorResult("'" + where->shown() + "' is not a file or directory");
  if (matches == 0)
    return validUtf8("no matches for '" + *pattern + "'");
  if (capped)
    text += "[stopped after " + std::to_string(searchMatchCap) +
            " matches; narrow the pattern or the path]\n";
  return validUtf8(text);
}

Json BuiltinToolbox::writeFile(const Json &args) {
  std::string problem;
  std::optional<std::string> path = stringArg(args, "path", problem);
  std::optional<std::string> content = stringArg(args, "content", problem);
  if (!problem.empty())
    return errorResult(problem);
  if (!path || path->empty())
    return errorResult("write_file needs a 'path'");
  if (!content)
    return errorResult("write_file needs a 'content'");
  Expected<WorkspacePath> where = resolve(*path, true);
  if (!where)
    return errorResult(where.error().message);
  if (isGitMetadata(where->relative))
    return errorResult("path '" + *path + "' " + gitMetadataRefusal);
  struct stat st;
  if (where->relative.empty() ||
      (where->exists && ::stat(where->absolute.c_str(), &st) == 0 &&
       S_ISDIR(st.st_mode)))
    return errorResult("'" + where->shown() + "' is a directory, not a file");
  Expected<std::string> root = workspaceRoot();
  if (!root)
    return errorResult(root.error().message);
  if (Status written = writeWorkspaceFile(*root, where->relative, *content);
      !written)
    return errorResult(written.error().message);
  return Json{{"written", validUtf8(where->shown())},
              {"bytes", content->size()}};
}

Json BuiltinToolbox::patch(const Json &args) {
  std::string problem;
  std::optional<std::string> path = stringArg(args, "path", problem);
  std::optional<std::string> oldText = stringArg(args, "old", problem);
  std::optional<std::string> newText = stringArg(args, "new", problem);
  if (!problem.empty())
    return errorResult(problem);
  if (!path || path->empty())
    return errorResult("patch needs a 'path'");
  if (!oldText || oldText->empty())
    return errorResult("patch needs a non-empty 'old'");
  if (!newText)
    return errorResult("patch needs a 'new'");
  Expected<WorkspacePath> where = resolve(*path, false);
  if (!where)
    return errorResult(where.error().message);
  Expected<std::string> content = readWholeFile(where->absolute, patchFileCap);
  if (!content)
    return errorResult("cannot read '" + where->shown() +
                       "': " + content.error().message);
  // Overlapping occurrences count too: either would be ambiguous.
  size_t first = content->find(*oldText);
  if (first == std::string::npos)
    return errorResult("'old' does not occur in '" + where->shown() +
                       "'; read the file and copy the text exactly");
  size_t occurrences = 1;
  for (size_t at = content->find(*oldText, first + 1); at != std::string::npos;
       at = content->find(*oldText, at + 1))
    ++occurrences;
  if (occurrences > 1)
    return errorResult("'old' occurs " + std::to_string(occurrences) +
                       " times in '" + where->shown() +
                       "'; include more context so that it is unique");
  std::string updated = content->substr(0, first) + *newText +
                        content->substr(first + oldText->size());
  Expected<std::string> root = workspaceRoot();
  if (!root)
    return errorResult(root.error().message);
  if (Status written = writeWorkspaceFile(*root, where->relative, updated);
      !written)
    return errorResult(written.error().message);
  int64_t line = 1 + std::count(content->begin(),
                                content->begin() + std::ptrdiff_t(first), '\n');
  return Json{{"patched", validUtf8(where->shown())}, {"line", line}};
}

Json BuiltinToolbox::runCommand(const Json &args) {
  std::string problem;
  std::optional<std::string> command = stringArg(args, "command", problem);
  if (!problem.empty())
    return errorResult(problem);
  if (!command || command->empty())
    return errorResult("run_command needs a 'command'");
  Expected<std::string> root = workspaceRoot();
  if (!root)
    return errorResult(root.error().message);
  ToolInvocation inv;
  inv.command = *command;
  inv.workdir = *root;
  inv.env = environment(*root);
  inv.timeoutMs = timeoutMs;
  inv.outputCap = commandOutputCap;
  inv.abandon = abandon;
  inv.stopWhenHurried = true; // A second Ctrl-C stops it.
  Expected<ToolResult> ran = runner.run(inv);
  if (!ran)
    return errorResult("cannot run the command: " + ran.error().message);
  std::string out = validUtf8(ran->stdoutText);
  std::string err = validUtf8(ran->stderrText);
  if (ran->stdoutTruncated)
    out += "\n[stdout truncated at " + std::to_string(commandOutputCap) +
           " bytes]";
  if (ran->stderrTruncated)
    err += "\n[stderr truncated at " + std::to_string(commandOutputCap) +
           " bytes]";
  Json result = Json::object();
  result["exit_code"] = ran->exitCode;
  result["stdout"] = out;
  result["stderr"] = err;
  if (ran->timedOut)
    result["timed_out"] = true;
  if (ran->signal != 0)
    result["signal"] = ran->signal;
  if (ran->timedOut)
    result["error"] = "the command timed out after " +
                      std::to_string(timeoutMs) + " ms and was killed";
  if (ran->interrupted)
    result["error"] = "the command was stopped: " + ran->interrupted->message;
  return result;
}

Json BuiltinToolbox::runGit(const std::string &what,
                            const std::string &subcommand,
                            const std::string &emptyText) {
  Expected<std::string> root = workspaceRoot();
  if (!root)
    return errorResult(root.error().message);
  // git reads a private git directory standing in for the workspace's
  // .git, so nothing in the repository's configuration can run a program.
  Expected<std::unique_ptr<GitShadow>> shadow =
      GitShadow::create(*root, runner, timeoutMs);
  if (!shadow)
    return errorResult(what + ": " + shadow.error().message);
  std::string path, lang;
  for (const auto &[key, value] : environment(*root)) {
    if (key == "PATH")
      path = value;
    else if (key == "LANG")
      lang = value;
  }
  ToolInvocation inv;
  inv.command = GitShadow::gitCommand() + " " + subcommand;
  inv.workdir = *root;
  inv.env = (*shadow)->environment(path, lang);
  inv.timeoutMs = timeoutMs;
  inv.outputCap = readCap;
  inv.abandon = abandon;
  inv.stopWhenHurried = true; // A second Ctrl-C stops it.
  Expected<ToolResult> ran = runner.run(inv);
  if (!ran)
    return errorResult("cannot run " + what + ": " + ran.error().message);
  if (ran->interrupted)
    return errorResult(what + " was stopped: " + ran->interrupted->message);
  if (ran->timedOut)
    return errorResult(what + " timed out after " + std::to_string(timeoutMs) +
                       " ms");
  if (ran->exitCode != 0) {
    std::string detail = ran->stderrText;
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' '))
      detail.pop_back();
    if (ran->exitCode == 127)
      detail = "git is not installed (" + detail + ")";
    return errorResult(what + " failed (exit " + std::to_string(ran->exitCode) +
                       "): " + detail);
  }
  if (ran->stdoutText.empty())
    return emptyText;
  std::string text = validUtf8(ran->stdoutText);
  if (ran->stdoutTruncated)
    text += "\n[truncated at " + std::to_string(readCap) + " bytes]";
  return text;
}

} // namespace

std::unique_ptr<Toolbox>
iterc::rt::makeBuiltinToolbox(std::string workspace, ToolRunner &runner,
                              int64_t timeoutMs,
                              std::function<std::optional<Error>()> abandon) {
  return std::make_unique<BuiltinToolbox>(std::move(workspace), runner,
                                          timeoutMs, std::move(abandon));
}

//===----------------------------------------------------------------------===//
// ToolboxChain
//===----------------------------------------------------------------------===//

std::optional<ToolSpec> ToolboxChain::find(const std::string &name) {
  for (Toolbox *box : boxes)
    if (box)
      if (std::optional<ToolSpec> spec = box->find(name))
        return spec;
  return std::nullopt;
}

std::vector<ToolSpec> ToolboxChain::expand(const std::string &pattern) {
  std::vector<ToolSpec> result;
  std::set<std::string> seen;
  for (Toolbox *box : boxes) {
    if (!box)
      continue;
    for (ToolSpec &spec : box->expand(pattern))
      if (seen.insert(spec.name).second)
        result.push_back(std::move(spec));
  }
  return result;
}

Expected<Json> ToolboxChain::call(const std::string &name,
                                  const Json &arguments) {
  for (Toolbox *box : boxes)
    if (box && box->find(name))
      return box->call(name, arguments);
  return Error(ErrorCode::Tool, "unknown tool '" + name + "'");
}

bool ToolboxChain::mutates(const std::string &name) {
  for (Toolbox *box : boxes)
    if (box && box->find(name))
      return box->mutates(name);
  return false;
}
