//===- AgentTools.h - Tools an agent may call -------------------*- C++ -*-===//
//
// This file declares what an agent's `tools: [...]` resolve to at run time:
// built-in workspace tools (read_file, list_files, write_file, ...), tools
// of MCP servers (`mcp.<server>.<tool>`), all behind one Toolbox interface
// the engine's tool-call loop uses. Every built-in is confined to the run's
// workspace.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_AGENTTOOLS_H
#define ITERC_RT_AGENTTOOLS_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Llm.h"
#include "iterc/rt/Tool.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace iterc::rt {

/// A source of callable tools.
class Toolbox {
public:
  virtual ~Toolbox() = default;
  /// The spec of tool `name` (as written in `tools:`), or nullopt when this
  /// toolbox does not provide it. `mcp.server.*` style wildcards are
  /// expanded by `expand`.
  virtual std::optional<ToolSpec> find(const std::string &name) = 0;
  /// Every tool matching a pattern such as `mcp.server.*`.
  virtual std::vector<ToolSpec> expand(const std::string &pattern) {
    (void)pattern;
    return {};
  }
  /// Calls a tool. The result is what the model sees (text or JSON); a
  /// tool's own failure is a result too (`{"error": ...}`), an Error only
  /// when the call could not be made at all.
  virtual Expected<Json> call(const std::string &name, const Json &arguments) = 0;
  /// True when the tool changes the workspace (a node with `readonly: true`
  /// may not call it).
  virtual bool mutates(const std::string &name) = 0;
};

/// The built-in workspace tools: read_file, list_files, tree,
/// search_codebase, write_file, patch, run_command, git_diff, git_status.
/// `runner` executes run_command/git (with `timeoutMs`); `abandon`, when
/// set, is asked while a command runs and stops it (the run's duration
/// budget, an interrupt), as ToolInvocation::abandon does.
std::unique_ptr<Toolbox>
makeBuiltinToolbox(std::string workspace, ToolRunner &runner,
                   int64_t timeoutMs = 120000,
                   std::function<std::optional<Error>()> abandon = {});

/// Looks a tool up in several toolboxes, in order.
class ToolboxChain : public Toolbox {
public:
  void add(Toolbox *box) { boxes.push_back(box); }
  std::optional<ToolSpec> find(const std::string &name) override;
  std::vector<ToolSpec> expand(const std::string &pattern) override;
  Expected<Json> call(const std::string &name, const Json &arguments) override;
  bool mutates(const std::string &name) override;

private:
  std::vector<Toolbox *> boxes;
};

} // namespace iterc::rt

#endif // ITERC_RT_AGENTTOOLS_H
