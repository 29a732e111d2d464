//===- GitShadow.h - Running git on a repository it must not trust -*- C++ -*-//
//
// This file declares GitShadow, the private git directory the built-in git
// tools run git against. A repository's configuration can make git run
// programs (core.fsmonitor, filter and diff drivers, pagers, hooks, included
// files, ...), and the workspace repository is written by models and tools.
// Rather than neutralise every such key one by one, git never reads that
// configuration: GIT_DIR names a fresh temporary directory whose own config
// holds only a few inert keys copied from the repository (format, file mode
// and line-ending handling), and which links to the repository's objects,
// refs and index. There are no hooks, no includes, no drivers; the user's
// and the system's configuration are switched off too.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_GITSHADOW_H
#define ITERC_RT_SRC_GITSHADOW_H

#include "iterc/rt/Tool.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace iterc::rt {

class GitShadow {
public:
  /// Builds the shadow of the repository `root`/.git. `root` is the
  /// workspace's real path; its `.git` must be a directory (not a symlink,
  /// not a `gitdir:` file).
  static Expected<std::unique_ptr<GitShadow>>
  create(const std::string &root, ToolRunner &runner, int64_t timeoutMs);
  ~GitShadow();
  GitShadow(const GitShadow &) = delete;
  GitShadow &operator=(const GitShadow &) = delete;

  /// The whole environment git runs with (PATH and LANG are passed in).
  std::vector<std::pair<std::string, std::string>>
  environment(const std::string &path, const std::string &lang) const;

  /// `git` and the global options that go before its subcommand.
  static std::string gitCommand();

private:
  GitShadow(std::string root, std::string dir)
      : root(std::move(root)), dir(std::move(dir)) {}
  std::string root;
  std::string dir;
};

} // namespace iterc::rt

#endif // ITERC_RT_SRC_GITSHADOW_H
