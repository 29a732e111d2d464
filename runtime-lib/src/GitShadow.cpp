//===- GitShadow.cpp - Running git on a repository it must not trust ------===//
//
// This file implements GitShadow (see GitShadow.h). The shadow directory is
// made with mkdtemp (0700) and holds: a `config` written here, and symlinks
// to the entries of the repository's git directory that hold data only
// (HEAD and the other *_HEAD files, objects, refs, packed-refs, index and
// split-index files, info, shallow, logs). Nothing else is linked: not
// `config`, `config.worktree`, `hooks`, `commondir` or `modules`. Git may
// replace the linked index with a refreshed copy inside the shadow; the
// repository itself is only read.
//
// The few keys copied into the shadow's config are read with
// `git config --file <.git/config> --no-includes --null --list`, which only
// parses that one file; a value is kept only when it is a plain word.
//
//===----------------------------------------------------------------------===//
#include "GitShadow.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;

namespace {

/// Entries of a git directory that hold data git reads, never programs.
bool isDataEntry(const std::string &name) {
  static const std::set<std::string> names = {"HEAD",
                                              "ORIG_HEAD",
                                              "FETCH_HEAD",
                                              "MERGE_HEAD",
                                              "CHERRY_PICK_HEAD",
                                              "REVERT_HEAD",
                                              "objects",
                                              "refs",
                                              "packed-refs",
                                              "reftable",
                                              "index",
                                              "info",
                                              "shallow",
                                              "logs"};
  return names.count(name) || name.rfind("sharedindex.", 0) == 0;
}

/// Keys copied from the repository's config: they change how git reads the
/// repository and the work tree, and none names a program.
bool isInertKey(const std::string &key) {
  static const std::set<std::string> keys = {"core.repositoryformatversion",
                                             "core.filemode",
                                             "core.symlinks",
                                             "core.ignorecase",
                                             "core.precomposeunicode",
                                             "core.autocrlf",
                                             "core.eol",
                                             "core.safecrlf",
                                             "core.checkstat",
                                             "core.trustctime",
                                             "core.quotepath",
                                             "extensions.objectformat",
                                             "extensions.refstorage"};
  return keys.count(key) > 0;
}

bool isPlainWord(const std::string &value) {
  if (value.empty() || value.size() > 64)
    return false;
  for (char c : value)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-')
      return false;
  return true;
}

std::string errnoText(int err) { return std::strerror(err); }

/// Removes everything in `dir` (one level: links, files git left, empty
/// directories) and `dir` itself.
void removeShadow(const std::string &dir) {
  if (DIR *d = ::opendir(dir.c_str())) {
    int fd = ::dirfd(d);
    while (dirent *e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..")
        continue;
      if (::unlinkat(fd, name.c_str(), 0) != 0)
        ::unlinkat(fd, name.c_str(), AT_REMOVEDIR);
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

/// The inert `section.key=value` lines of the repository's config file.
std::string inertConfig(const std::string &configPath, const std::string &dir,
                        ToolRunner &runner, int64_t timeoutMs) {
  // A FIFO or a device there would only make git config wait.
  struct stat st;
  if (::stat(configPath.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return "";
  ToolInvocation inv;
  inv.command = GitShadow::gitCommand() + " config --file " +
                shellQuote(configPath) + " --no-includes --null --list";
  inv.workdir = dir;
  inv.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
             {"HOME", dir},
             {"XDG_CONFIG_HOME", dir + "/xdg"},
             {"GIT_CONFIG_NOSYSTEM", "1"},
             {"GIT_CONFIG_GLOBAL", "/dev/null"},
             {"GIT_CEILING_DIRECTORIES", dir}};
  if (const char *path = std::getenv("PATH"); path && *path)
    inv.env[0].second = path;
  inv.timeoutMs = timeoutMs;
  inv.outputCap = 1 << 20;
  Expected<ToolResult> ran = runner.run(inv);
  if (!ran || ran->exitCode != 0 || ran->stdoutTruncated)
    return "";
  // Entries are `key\nvalue\0` (or `key\0` for a key without a value).
  std::map<std::string, std::string> kept;
  const std::string &out = ran->stdoutText;
  size_t begin = 0;
  while (begin < out.size()) {
    size_t end = out.find('\0', begin);
    if (end == std::string::npos)
      break;
    std::string entry = out.substr(begin, end - begin);
    begin = end + 1;
    size_t newline = entry.find('\n');
    if (newline == std::string::npos)
      continue;
    std::string key = entry.substr(0, newline);
    std::string value = entry.substr(newline + 1);
    if (isInertKey(key) && isPlainWord(value))
      kept[key] = value; // The last one wins, as in git.
  }
  std::string sections;
  for (const char *section : {"core", "extensions"}) {
    std::string lines;
    for (const auto &[key, value] : kept)
      if (key.rfind(std::string(section) + ".", 0) == 0)
        lines +=
            "\t" + key.substr(std::strlen(section) + 1) + " = " + value + "\n";
    if (std::string(section) == "core")
      lines += "\tbare = false\n";
    sections += "[" + std::string(section) + "]\n" + lines;
  }
  return sections;
}

/// Copies the repository's HEAD (a ref name or an object id: small).
Status copyHead(const std::string &from, const std::string &to) {
  std::string text;
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (in >= 0) {
    char buf[4096];
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n > 0)
      text.assign(buf, size_t(n));
    ::close(in);
  }
  int out = ::open(to.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0)
    return Error(ErrorCode::Tool, "cannot copy .git/HEAD: " + errnoText(errno));
  bool written = ::write(out, text.data(), text.size()) ==
                 static_cast<ssize_t>(text.size());
  if (::close(out) != 0 || !written)
    return Error(ErrorCode::Tool, "cannot copy .git/HEAD");
  return Status::success();
}

} // namespace

Expected<std::unique_ptr<GitShadow>> GitShadow::create(const std::string &root,
                                                       ToolRunner &runner,
                                                       int64_t timeoutMs) {
  std::string gitDir = root + "/.git";
  struct stat st;
  if (::lstat(gitDir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return Error(ErrorCode::Tool,
                   "not a git repository: the workspace has no .git");
    return Error(ErrorCode::Tool, ".git: " + errnoText(errno));
  }
  if (S_ISLNK(st.st_mode))
    return Error(ErrorCode::WorkspaceEscape,
                 ".git is a symlink; the git tools only read a repository "
                 "whose .git directory is inside the workspace");
  if (!S_ISDIR(st.st_mode))
    return Error(ErrorCode::Tool,
                 ".git is not a directory (a linked worktree or a submodule); "
                 "the git tools only read a repository whose .git directory "
                 "is inside the workspace");

  const char *tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp && *tmp ? tmp : "/tmp") + "/iterc-git-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    return Error(ErrorCode::Tool,
                 "cannot create a temporary directory: " + errnoText(errno));
  std::unique_ptr<GitShadow> shadow(new GitShadow(root, buf.data()));

  std::string config =
      inertConfig(gitDir + "/config", shadow->dir, runner, timeoutMs);
  if (config.empty())
    config = "[core]\n\trepositoryformatversion = 0\n\tbare = false\n";
  std::string configPath = shadow->dir + "/config";
  int fd = ::open(configPath.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return Error(ErrorCode::Tool,
                 "cannot write a git configuration: " + errnoText(errno));
  bool written = ::write(fd, config.data(), config.size()) ==
                 static_cast<ssize_t>(config.size());
  if (::close(fd) != 0 || !written)
    return Error(ErrorCode::Tool, "cannot write a git configuration");

  DIR *d = ::opendir(gitDir.c_str());
  if (!d)
    return Error(ErrorCode::Tool, "cannot read .git: " + errnoText(errno));
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!isDataEntry(name))
      continue;
    std::string target = gitDir + "/" + name;
    std::string link = shadow->dir + "/" + name;
    // git accepts a symlinked HEAD only when the link itself reads
    // "refs/...": HEAD is copied instead.
    if (name == "HEAD") {
      if (Status copied = copyHead(target, link); !copied) {
        ::closedir(d);
        return copied.error();
      }
      continue;
    }
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      int err = errno;
      ::closedir(d);
      return Error(ErrorCode::Tool,
                   "cannot link .git/" + name + ": " + errnoText(err));
    }
  }
  ::closedir(d);
  return shadow;
}

GitShadow::~GitShadow() { removeShadow(dir); }

std::vector<std::pair<std::string, std::string>>
GitShadow::environment(const std::string &path, const std::string &lang) const {
  return {{"PATH", path},
          {"LANG", lang},
          // No user or system configuration, and no repository discovery.
          {"HOME", dir},
          {"XDG_CONFIG_HOME", dir + "/xdg"},
          {"GIT_CONFIG_NOSYSTEM", "1"},
          {"GIT_CONFIG_GLOBAL", "/dev/null"},
          {"GIT_ATTR_NOSYSTEM", "1"},
          {"GIT_DIR", dir},
          {"GIT_WORK_TREE", root},
          // A read-only query does not take the index lock.
          {"GIT_OPTIONAL_LOCKS", "0"},
          {"GIT_TERMINAL_PROMPT", "0"},
          {"GIT_PAGER", "cat"},
          {"PAGER", "cat"}};
}

std::string GitShadow::gitCommand() {
  // Belt and braces: the shadow's config names none of these anyway.
  return "git --no-pager -c core.fsmonitor=false -c core.hooksPath=/dev/null "
         "-c protocol.allow=never -c diff.ignoreSubmodules=all";
}
