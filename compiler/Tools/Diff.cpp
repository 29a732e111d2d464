//===- Diff.cpp - Semantic and file diffs of two workflows ----------------===//
//
// This file implements the line diff, the semantic comparison of two checked
// modules and the three renderings of `iterc diff`.
//
// The line diff. Lines are interned to integers, then compared with Myers'
// algorithm in its linear-space form: find the middle snake of the shortest
// edit script by searching forwards from the start and backwards from the
// end at once, split there and recurse, after stripping the common prefix
// and suffix of every subproblem. The result marks removed lines of OLD and
// added lines of NEW; hunks are cut from that with the requested context.
//
// The semantic comparison. Each side is flattened into elements (a node, a
// loop, a schema field, ...) holding ordered (property, value) pairs, values
// rendered as in the source. Elements match by name, properties by key; a
// value that differs is one change, located at the property's line when the
// AST has it and at the element's otherwise. Edges match by (from, to), by
// condition first when a pair repeats, then by (from, condition, loop) for
// an edge that changed its target; their order per source node is compared
// separately since it decides which edge is taken.
//
//===----------------------------------------------------------------------===//
#include "Tools/Diff.h"

#include "IR/Expr.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <set>
#include <type_traits>
#include <unordered_map>

using namespace iterc;
using namespace iterc::diff;

//===----------------------------------------------------------------------===//
// Line diffs
//===----------------------------------------------------------------------===//

namespace {

/// Splits into lines, each keeping its '\n' (the last may have none).
std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

/// Myers' linear-space diff over interned lines. Marks `removed[i]` for
/// lines of `a` not in the common subsequence and `added[j]` for those of
/// `b`.
class Myers {
public:
  Myers(const std::vector<int> &a, const std::vector<int> &b,
        std::vector<char> &removed, std::vector<char> &added)
      : a(a), b(b), removed(removed), added(added) {}

  void run() { compare(0, int(a.size()), 0, int(b.size())); }

private:
  const std::vector<int> &a, &b;
  std::vector<char> &removed, &added;

  void compare(int a0, int a1, int b0, int b1) {
    while (a0 < a1 && b0 < b1 && a[a0] == b[b0])
      ++a0, ++b0;
    while (a0 < a1 && b0 < b1 && a[a1 - 1] == b[b1 - 1])
      --a1, --b1;
    if (a0 == a1) {
      for (int j = b0; j < b1; ++j)
        added[j] = 1;
      return;
    }
    if (b0 == b1) {
      for (int i = a0; i < a1; ++i)
        removed[i] = 1;
      return;
    }
    int x = 0, y = 0;
    if (!bisect(a0, a1, b0, b1, x, y) || (x == a0 && y == b0) ||
        (x == a1 && y == b1)) {
      // No common line at all (or, defensively, a split that would not
      // shrink the problem): everything is replaced.
      for (int i = a0; i < a1; ++i)
        removed[i] = 1;
      for (int j = b0; j < b1; ++j)
        added[j] = 1;
      return;
    }
    compare(a0, x, b0, y);
    compare(x, a1, y, b1);
  }

  /// Finds a point (x, y) on a shortest edit path where the forward and the
  /// backward searches meet. Coordinates are absolute.
  bool bisect(int a0, int a1, int b0, int b1, int &splitX, int &splitY) {
    const int n = a1 - a0, m = b1 - b0;
    const int maxD = (n + m + 1) / 2;
    const int offset = maxD + 1;
    const int length = 2 * maxD + 3;
    std::vector<int> forward(length, -1), backward(length, -1);
    forward[offset + 1] = 0;
    backward[offset + 1] = 0;
    const int delta = n - m;
    const bool odd = (delta & 1) != 0;
    // Diagonals that ran off the grid are not searched again.
    int fStart = 0, fEnd = 0, bStart = 0, bEnd = 0;
    for (int d = 0; d <= maxD; ++d) {
      for (int k = -d + fStart; k <= d - fEnd; k += 2) {
        int i = offset + k;
        int x = (k == -d || (k != d && forward[i - 1] < forward[i + 1]))
                    ? forward[i + 1]
                    : forward[i - 1] + 1;
        int y = x - k;
        while (x < n && y < m && a[a0 + x] == b[b0 + y])
          ++x, ++y;
        forward[i] = x;
        if (x > n) {
          fEnd += 2;
        } else if (y > m) {
          fStart += 2;
        } else if (odd) {
          int j = offset + delta - k;
          if (j >= 0 && j < length && backward[j] != -1 &&
              x >= n - backward[j]) {
            splitX = a0 + x;
            splitY = b0 + y;
            return true;
          }
        }
      }
      for (int k = -d + bStart; k <= d - bEnd; k += 2) {
        int i = offset + k;
        int x = (k == -d || (k != d && backward[i - 1] < backward[i + 1]))
                    ? backward[i + 1]
                    : backward[i - 1] + 1;
        int y = x - k;
        while (x < n && y < m && a[a1 - 1 - x] == b[b1 - 1 - y])
          ++x, ++y;
        backward[i] = x;
        if (x > n) {
          bEnd += 2;
        } else if (y > m) {
          bStart += 2;
        } else if (!odd) {
          int j = offset + delta - k;
          if (j >= 0 && j < length && forward[j] != -1) {
            int fx = forward[j];
            int fy = fx - (j - offset);
            if (fx >= n - x) {
              splitX = a0 + fx;
              splitY = b0 + fy;
              return true;
            }
          }
        }
      }
    }
    return false;
  }
};

struct EditOp {
  char tag;      ///< ' ', '-', '+'
  unsigned a, b; ///< Positions in a and b before this operation.
};

} // namespace

std::vector<Hunk> diff::diffLines(std::string_view a, std::string_view b,
                                  unsigned context) {
  std::vector<Hunk> hunks;
  if (a == b)
    return hunks;
  std::vector<std::string_view> la = splitLines(a), lb = splitLines(b);
  std::unordered_map<std::string_view, int> ids;
  auto intern = [&](const std::vector<std::string_view> &lines) {
    std::vector<int> out;
    out.reserve(lines.size());
    for (std::string_view l : lines)
      out.push_back(ids.emplace(l, int(ids.size())).first->second);
    return out;
  };
  std::vector<int> ia = intern(la), ib = intern(lb);
  std::vector<char> removed(la.size(), 0), added(lb.size(), 0);
  // A line found on one side only is never common: mark it first and run
  // Myers on the rest (the common subsequence is the same, and a file
  // rewritten from scratch costs nothing).
  std::vector<char> inA(ids.size(), 0), inB(ids.size(), 0);
  for (int id : ia)
    inA[id] = 1;
  for (int id : ib)
    inB[id] = 1;
  std::vector<int> ka, kb;
  std::vector<unsigned> posA, posB;
  for (unsigned k = 0; k < ia.size(); ++k) {
    if (inB[ia[k]]) {
      ka.push_back(ia[k]);
      posA.push_back(k);
    } else {
      removed[k] = 1;
    }
  }
  for (unsigned k = 0; k < ib.size(); ++k) {
    if (inA[ib[k]]) {
      kb.push_back(ib[k]);
      posB.push_back(k);
    } else {
      added[k] = 1;
    }
  }
  std::vector<char> keptRemoved(ka.size(), 0), keptAdded(kb.size(), 0);
  Myers(ka, kb, keptRemoved, keptAdded).run();
  for (size_t k = 0; k < ka.size(); ++k)
    removed[posA[k]] |= keptRemoved[k];
  for (size_t k = 0; k < kb.size(); ++k)
    added[posB[k]] |= keptAdded[k];

  std::vector<EditOp> ops;
  unsigned i = 0, j = 0;
  while (i < la.size() || j < lb.size()) {
    if (i < la.size() && removed[i]) {
      ops.push_back({'-', i, j});
      ++i;
    } else if (j < lb.size() && added[j]) {
      ops.push_back({'+', i, j});
      ++j;
    } else {
      ops.push_back({' ', i, j});
      ++i, ++j;
    }
  }

  auto lineOf = [&](const EditOp &op) {
    std::string_view text = op.tag == '+' ? lb[op.b] : la[op.a];
    DiffLine line;
    line.tag = op.tag;
    line.noNewline = text.empty() || text.back() != '\n';
    line.text =
        std::string(line.noNewline ? text : text.substr(0, text.size() - 1));
    return line;
  };

  size_t n = ops.size(), pos = 0, previousEnd = 0;
  while (pos < n) {
    while (pos < n && ops[pos].tag == ' ')
      ++pos;
    if (pos == n)
      break;
    size_t start = pos >= context ? pos - context : 0;
    start = std::max(start, previousEnd);
    size_t end = pos;
    for (;;) {
      while (end < n && ops[end].tag != ' ')
        ++end;
      size_t next = end;
      while (next < n && ops[next].tag == ' ')
        ++next;
      if (next < n && next - end <= 2 * size_t(context)) {
        end = next;
        continue;
      }
      break;
    }
    size_t stop = std::min(n, end + context);
    Hunk hunk;
    for (size_t k = start; k < stop; ++k) {
      hunk.lines.push_back(lineOf(ops[k]));
      if (ops[k].tag != '+')
        ++hunk.oldCount;
      if (ops[k].tag != '-')
        ++hunk.newCount;
    }
    hunk.oldStart = ops[start].a + (hunk.oldCount ? 1 : 0);
    hunk.newStart = ops[start].b + (hunk.newCount ? 1 : 0);
    hunks.push_back(std::move(hunk));
    previousEnd = stop;
    pos = stop;
  }
  return hunks;
}

std::string diff::hunkHeader(const Hunk &hunk) {
  auto range = [](unsigned start, unsigned count) {
    std::string s = std::to_string(start);
    if (count != 1)
      s += "," + std::to_string(count);
    return s;
  };
  return "@@ -" + range(hunk.oldStart, hunk.oldCount) + " +" +
         range(hunk.newStart, hunk.newCount) + " @@";
}

static void appendHunks(std::string &out, const std::vector<Hunk> &hunks) {
  for (const Hunk &h : hunks) {
    out += hunkHeader(h) + "\n";
    for (const DiffLine &l : h.lines) {
      out += l.tag;
      out += l.text;
      out += "\n";
      if (l.noNewline)
        out += "\\ No newline at end of file\n";
    }
  }
}

std::string diff::unifiedDiff(std::string_view a, std::string_view b,
                              const std::string &oldName,
                              const std::string &newName, unsigned context) {
  std::vector<Hunk> hunks = diffLines(a, b, context);
  if (hunks.empty())
    return "";
  std::string out = "--- " + oldName + "\n+++ " + newName + "\n";
  appendHunks(out, hunks);
  return out;
}

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

const char *diff::sideKindName(SideKind kind) {
  switch (kind) {
  case SideKind::Source:
    return "source";
  case SideKind::EmitDirectory:
    return "emit-directory";
  case SideKind::Bundle:
    return "bundle";
  }
  return "source";
}

const char *diff::changeOpName(ChangeOp op) {
  switch (op) {
  case ChangeOp::Added:
    return "added";
  case ChangeOp::Removed:
    return "removed";
  case ChangeOp::Changed:
    return "changed";
  case ChangeOp::Reordered:
    return "reordered";
  }
  return "changed";
}

const char *diff::fileStatusName(FileStatus status) {
  switch (status) {
  case FileStatus::Added:
    return "added";
  case FileStatus::Removed:
    return "removed";
  case FileStatus::Modified:
    return "modified";
  }
  return "modified";
}

const std::vector<std::pair<std::string, std::string>> &diff::sections() {
  static const std::vector<std::pair<std::string, std::string>> list = {
      {"workflow", "Workflow"},
      {"nodes", "Nodes"},
      {"edges", "Edges"},
      {"loops", "Loops"},
      {"prompts", "Prompts"},
      {"schemas", "Schemas"},
      {"vars", "Vars"},
      {"presets", "Presets"},
      {"budget", "Budget"},
      {"services", "Services"},
      {"mcp_servers", "MCP servers"}};
  return list;
}

//===----------------------------------------------------------------------===//
// Flattening a module into elements
//===----------------------------------------------------------------------===//

namespace {

constexpr const char *None = "(none)";

using Json = nlohmann::ordered_json;

std::string dumpJson(const Json &value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string quote(std::string_view s) { return dumpJson(Json(std::string(s))); }

std::string quoteOrNone(std::string_view s) {
  return s.empty() ? None : quote(s);
}

std::string wordOrNone(std::string_view s) {
  return s.empty() ? None : std::string(s);
}

std::string wordList(const std::vector<std::string> &items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + items[i];
  return out + "]";
}

std::string quotedList(const std::vector<std::string> &items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + quote(items[i]);
  return out + "]";
}

std::string boolText(bool b) { return b ? "true" : "false"; }

std::string duration(int64_t ms) {
  if (ms != 0 && ms % 3600000 == 0)
    return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0)
    return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

/// Request deadlines as `{connect: 5s, first_byte: 20m, total: 25m}`,
/// the ones set only; (none) when none is.
std::string deadlines(int64_t connectMs, int64_t firstByteMs,
                      int64_t totalMs) {
  std::string out;
  for (auto [key, ms] : {std::pair<const char *, int64_t>{"connect", connectMs},
                         {"first_byte", firstByteMs},
                         {"total", totalMs}})
    if (ms)
      out += std::string(out.empty() ? "{" : ", ") + key + ": " + duration(ms);
  return out.empty() ? std::string(None) : out + "}";
}

template <typename T> std::string optionalText(const std::optional<T> &v) {
  if (!v)
    return None;
  if constexpr (std::is_floating_point_v<T>)
    return dumpJson(Json(*v));
  else
    return std::to_string(*v);
}

struct Prop {
  std::string key;
  std::string value;   ///< Compared.
  std::string display; ///< Shown; "" means `value`.
  SourceRange range;
  bool multiline = false;

  const std::string &shown() const { return display.empty() ? value : display; }
};

struct Elem {
  std::string name;
  std::string summary;
  SourceRange range;
  std::vector<Prop> props;
};

/// The AST declarations of one side, by name, for property locations.
struct AstIndex {
  std::map<std::string, const ast::NodeDecl *> nodes, services, mcpServers;
  std::map<std::string, const ast::Preset *> presets;
  const ast::WorkflowDecl *workflow = nullptr;

  explicit AstIndex(const ast::File *file) {
    if (!file)
      return;
    for (const std::unique_ptr<ast::Decl> &d : file->decls) {
      if (ast::NodeDecl::classof(d.get())) {
        auto *n = static_cast<const ast::NodeDecl *>(d.get());
        auto &map = n->keyword == "service"      ? services
                    : n->keyword == "mcp_server" ? mcpServers
                                                 : nodes;
        map.emplace(n->name.text, n);
      } else if (ast::WorkflowDecl::classof(d.get())) {
        if (!workflow)
          workflow = static_cast<const ast::WorkflowDecl *>(d.get());
      } else if (ast::PresetsDecl::classof(d.get())) {
        for (const ast::Preset &preset :
             static_cast<const ast::PresetsDecl *>(d.get())->presets)
          presets.emplace(preset.name.text, &preset);
      }
    }
  }
};

const ast::Property *findProperty(const std::vector<ast::Property> *props,
                                  std::string_view key) {
  if (!props)
    return nullptr;
  const ast::Property *found = nullptr;
  for (const ast::Property &p : *props)
    if (p.key.text == key)
      found = &p;
  return found;
}

/// The range of a property at `path` (keys of nested blocks), or of its
/// deepest existing ancestor, or `fallback`.
SourceRange propertyRange(const std::vector<ast::Property> *props,
                          std::initializer_list<std::string_view> path,
                          SourceRange fallback) {
  SourceRange range = fallback;
  for (std::string_view key : path) {
    const ast::Property *p = findProperty(props, key);
    if (!p)
      break;
    range = p->range;
    props = p->isBlock ? &p->children : nullptr;
  }
  return range;
}

/// Shows the values written as raw strings (`...`) as written, backticks and
/// all, rather than re-escaped in double quotes: a property "a.b" is looked
/// up as the child b of the block a. The compared value is unchanged, so a
/// string that is only re-spelt raw is not a change.
void showRawStringsAsWritten(Elem &e, const std::vector<ast::Property> *props) {
  for (Prop &p : e.props) {
    if (!p.display.empty() || p.multiline)
      continue;
    const std::vector<ast::Property> *level = props;
    const ast::Property *found = nullptr;
    std::string_view key = p.key;
    while (level) {
      size_t dot = key.find('.');
      found = findProperty(level, key.substr(0, dot));
      if (!found || dot == std::string_view::npos)
        break;
      level = found->isBlock ? &found->children : nullptr;
      key.remove_prefix(dot + 1);
      found = nullptr;
    }
    if (found && !found->isBlock && found->value.isString() &&
        found->value.form == ast::Value::StringForm::Raw)
      p.display = "`" + found->value.text + "`";
  }
}

/// Builds the elements of one side.
class Flattener {
public:
  explicit Flattener(const Side &side)
      : m(*side.module), index(side.ast.get()) {}

  std::string schemaName(int i) const {
    return i >= 0 ? m.schemas[i].name : None;
  }
  std::string promptName(int i) const {
    return i >= 0 ? m.prompts[i].name : None;
  }

  std::vector<Elem> workflow() const {
    const ir::Workflow &wf = m.workflow;
    const std::vector<ast::Property> *props =
        index.workflow ? &index.workflow->properties : nullptr;
    Elem e;
    e.name = wf.name;
    e.range = wf.range;
    auto add = [&](std::string key, std::string value,
                   std::initializer_list<std::string_view> path) {
      e.props.push_back({std::move(key), std::move(value), "",
                         propertyRange(props, path, wf.range)});
    };
    e.props.push_back({"name", wf.name, "", wf.range});
    add("entry", wf.nodes.empty() ? None : wf.nodes[wf.entry].name, {"entry"});
    add("interaction", ir::interactionName(wf.defaultInteraction),
        {"interaction"});
    add("services", wordList(wf.services), {"services"});
    add("mcp.servers", wordList(wf.mcpServers), {"mcp", "servers"});
    add("runner_image", quoteOrNone(wf.runnerImage), {"runner_image"});
    for (const ir::ModelTimeouts &t : wf.modelTimeouts)
      add("request_timeouts." + quote(t.model),
          deadlines(t.connectMs, t.firstByteMs, t.totalMs),
          {"request_timeouts"});
    return {e};
  }

  static std::string kindSummary(const ir::Node &n) {
    std::string s = ir::nodeKindName(n.kind);
    if (n.kind == ir::NodeKind::Router)
      s += std::string(" ") + ir::routerModeName(n.routerMode);
    return s;
  }

  std::vector<Elem> nodes() const {
    std::vector<Elem> out;
    for (const ir::Node &n : m.workflow.nodes)
      if (!n.isTerminal())
        out.push_back(node(n));
    return out;
  }

  Elem node(const ir::Node &n) const {
    auto it = index.nodes.find(n.name);
    const std::vector<ast::Property> *props =
        it == index.nodes.end() ? nullptr : &it->second->properties;
    Elem e;
    e.name = n.name;
    e.summary = kindSummary(n);
    e.range = n.range;
    auto at = [&](std::initializer_list<std::string_view> path) {
      return propertyRange(props, path, n.range);
    };
    auto add = [&](std::string key, std::string value, SourceRange range,
                   bool multiline = false) {
      e.props.push_back(
          {std::move(key), std::move(value), "", range, multiline});
    };
    add("kind", ir::nodeKindName(n.kind), n.range);
    if (n.kind == ir::NodeKind::Router) {
      add("mode", ir::routerModeName(n.routerMode), at({"mode"}));
      add("multi", boolText(n.multi), at({"multi"}));
    }
    add("model", quoteOrNone(n.model), at({"model"}));
    add("input", schemaName(n.input), at({"input"}));
    add("output", schemaName(n.output), at({"output"}));
    add("system", promptName(n.system), at({"system"}));
    add("user", promptName(n.user), at({"user"}));
    add("instructions", promptName(n.instructions), at({"instructions"}));
    add("publish", wordOrNone(n.publish), at({"publish"}));
    add("session", ir::sessionModeName(n.session), at({"session"}));
    add("tools", wordList(n.tools), at({"tools"}));
    add("tool_max_steps",
        n.toolMaxSteps ? std::to_string(n.toolMaxSteps) : None,
        at({"tool_max_steps"}));
    add("reasoning_effort", wordOrNone(n.reasoningEffort),
        at({"reasoning_effort"}));
    add("readonly", boolText(n.readonly), at({"readonly"}));
    add("max_tokens", optionalText(n.maxTokens), at({"max_tokens"}));
    add("request_timeout",
        deadlines(n.requestConnectMs, n.requestFirstByteMs, n.requestTotalMs),
        at({"request_timeout"}));
    add("await", ir::awaitModeName(n.await),
        n.kind == ir::NodeKind::Join ? at({"strategy"}) : at({"await"}));
    add("mcp.servers", wordList(n.mcpServers), at({"mcp", "servers"}));
    add("write_files", wordOrNone(n.writeFiles), at({"write_files"}));
    // A human node may spell `interaction` the classic way, as `mode`.
    bool classicMode =
        n.kind == ir::NodeKind::Human && !findProperty(props, "interaction");
    add("interaction", ir::interactionName(n.interaction),
        at({classicMode ? "mode" : "interaction"}));
    add("interaction_prompt", promptName(n.interactionPrompt),
        at({"interaction_prompt"}));
    add("interaction_model", quoteOrNone(n.interactionModel),
        at({"interaction_model"}));
    add("min_answers", std::to_string(n.minAnswers), at({"min_answers"}));
    add("command", n.command.empty() ? None : quote(n.command.source),
        at({"command"}));
    add("script", n.script.empty() ? None : n.script, at({"script"}),
        /*multiline=*/true);
    add("language", wordOrNone(n.language), at({"language"}));
    add("timeout", n.timeoutMs ? duration(*n.timeoutMs) : None,
        at({"timeout"}));
    add("workdir", quoteOrNone(n.workdir), at({"workdir"}));
    for (const auto &[name, value] : n.env)
      add("env." + name, quote(value.source), at({"env", name}));
    add("inherit_env", wordList(n.inheritEnv), at({"inherit_env"}));
    add("capture", boolText(n.capture), at({"capture"}));
    add("approval", n.approval ? "required" : "none", at({"approval"}));
    add("restart", wordList(n.restart), at({"restart"}));
    // Expressions compare by canonical form and show as written.
    auto addExpr = [&](std::string key, const ir::Check &c) {
      e.props.push_back({std::move(key),
                         quote(c.expr ? ir::printExpr(*c.expr) : c.source),
                         quote(c.source), c.range});
    };
    for (const ir::Check &c : n.exprs)
      addExpr("expr." + c.name, c);
    for (const ir::Check &c : n.checks)
      addExpr("check." + c.name, c);
    for (const ir::HttpCheck &h : n.httpChecks) {
      std::string p = "http." + h.name + ".";
      add(p + "service", wordOrNone(h.service), h.range);
      add(p + "url", h.url.empty() ? None : quote(h.url.source), h.range);
      add(p + "method", h.method, h.range);
      add(p + "path", h.path.empty() ? None : quote(h.path.source), h.range);
      add(p + "body", h.body.empty() ? None : quote(h.body.source), h.range);
      for (const auto &[name, value] : h.headers)
        add(p + "headers." + name, quote(value.source), h.range);
      add(p + "expect_status", std::to_string(h.expectStatus), h.range);
      add(p + "expect_body",
          h.expectBodyContains ? quote(*h.expectBodyContains) : None, h.range);
      for (const auto &[field, check] : h.expectJson)
        addExpr(p + "expect_json." + field, check);
      add(p + "timeout", duration(h.timeoutMs), h.range);
    }
    if (!n.assertions.empty())
      add("assertions", quote(n.assertions.source), at({"assertions"}));
    add("require", wordList(n.require), at({"require"}));
    showRawStringsAsWritten(e, props);
    return e;
  }

  std::vector<Elem> loops() const {
    std::vector<Elem> out;
    const std::vector<ast::Property> *props =
        index.workflow ? &index.workflow->properties : nullptr;
    for (const ir::Loop &l : m.workflow.loops) {
      Elem e;
      e.name = l.name;
      e.range = l.range;
      std::string cap =
          l.cap ? std::to_string(*l.cap) : quote(l.capTemplate.source);
      e.summary = "cap " + cap;
      e.props.push_back({"cap", cap, "", l.range});
      e.props.push_back(
          {"no_progress", l.noProgress ? std::to_string(l.noProgress) : None,
           "", propertyRange(props, {"no_progress", l.name}, l.range)});
      out.push_back(std::move(e));
    }
    return out;
  }

  std::vector<Elem> prompts() const {
    std::vector<Elem> out;
    for (const ir::Prompt &p : m.prompts) {
      Elem e;
      e.name = p.name;
      e.range = p.range;
      size_t lines = splitLines(p.body.source).size();
      e.summary = std::to_string(lines) + (lines == 1 ? " line" : " lines");
      e.props.push_back({"text", p.body.source, "", p.range, true});
      out.push_back(std::move(e));
    }
    return out;
  }

  static std::string fieldType(const ir::Field &f) {
    std::string s = ir::typeName(f.type);
    if (!f.enumValues.empty()) {
      s += " [enum: ";
      for (size_t i = 0; i < f.enumValues.size(); ++i)
        s += (i ? ", " : "") + quote(f.enumValues[i]);
      s += "]";
    }
    return s;
  }

  static std::vector<Elem> fields(const ir::Schema &s) {
    std::vector<Elem> out;
    for (const ir::Field &f : s.fields) {
      Elem e;
      e.name = s.name + "." + f.name;
      e.range = f.range;
      e.summary = fieldType(f);
      e.props.push_back({"type", ir::typeName(f.type), "", f.range});
      e.props.push_back({"enum",
                         f.enumValues.empty() ? None : quotedList(f.enumValues),
                         "", f.range});
      out.push_back(std::move(e));
    }
    return out;
  }

  static std::string schemaSummary(const ir::Schema &s) {
    std::string out = "{";
    for (size_t i = 0; i < s.fields.size(); ++i)
      out += (i ? ", " : "") + s.fields[i].name + ": " + fieldType(s.fields[i]);
    return out + "}";
  }

  std::vector<Elem> vars() const {
    std::vector<Elem> out;
    for (const ir::Var &v : m.vars) {
      Elem e;
      e.name = v.name;
      e.range = v.range;
      std::string def = v.hasDefault ? dumpJson(v.defaultValue) : None;
      e.summary = ir::typeName(v.type);
      if (v.hasDefault)
        e.summary += " = " + def;
      e.props.push_back({"type", ir::typeName(v.type), "", v.range});
      e.props.push_back({"enum",
                         v.enumValues.empty() ? None : quotedList(v.enumValues),
                         "", v.range});
      e.props.push_back({"default", def, "", v.range});
      e.props.push_back({"secret", boolText(v.secret), "", v.range});
      out.push_back(std::move(e));
    }
    return out;
  }

  std::vector<Elem> presets() const {
    std::vector<Elem> out;
    for (const ir::Preset &p : m.presets) {
      auto it = index.presets.find(p.name);
      const std::vector<ast::Property> *props =
          it == index.presets.end() ? nullptr : &it->second->values;
      Elem e;
      e.name = p.name;
      e.range = p.range;
      std::vector<std::string> names;
      for (const auto &[name, value] : p.values) {
        names.push_back(name);
        e.props.push_back(
            {name, dumpJson(value), "", propertyRange(props, {name}, p.range)});
      }
      e.summary = "sets " + wordList(names);
      out.push_back(std::move(e));
    }
    return out;
  }

  std::vector<Elem> budget() const {
    const ir::Budget &b = m.workflow.budget;
    const std::vector<ast::Property> *props =
        index.workflow ? &index.workflow->properties : nullptr;
    SourceRange fallback = propertyRange(props, {"budget"}, m.workflow.range);
    Elem e;
    e.name = "budget";
    e.range = fallback;
    auto add = [&](const char *key, std::string value) {
      e.props.push_back({key, std::move(value), "",
                         propertyRange(props, {"budget", key}, fallback)});
    };
    add("max_parallel_branches", optionalText(b.maxParallelBranches));
    add("max_tokens", optionalText(b.maxTokens));
    add("max_iterations", optionalText(b.maxIterations));
    add("max_cost_usd", optionalText(b.maxCostUsd));
    add("max_duration", !b.maxDurationText.empty() ? quote(b.maxDurationText)
                        : b.maxDurationMs          ? duration(*b.maxDurationMs)
                                                   : None);
    return {e};
  }

  static std::string containerPort(const std::string &spec) {
    size_t colon = spec.rfind(':');
    return colon == std::string::npos ? spec : spec.substr(colon + 1);
  }

  static std::string serviceSummary(const ir::Service &s) {
    if (!s.image.empty())
      return "image " + quote(s.image);
    if (!s.buildContext.empty())
      return "build " + quote(s.buildContext);
    if (!s.program.empty())
      return "program " + quote(s.program);
    return "service";
  }

  std::vector<Elem> services() const {
    std::vector<Elem> out;
    for (const ir::Service &s : m.services) {
      auto it = index.services.find(s.name);
      const std::vector<ast::Property> *props =
          it == index.services.end() ? nullptr : &it->second->properties;
      Elem e;
      e.name = s.name;
      e.range = s.range;
      e.summary = serviceSummary(s);
      auto add = [&](std::string key, std::string value,
                     std::initializer_list<std::string_view> path) {
        e.props.push_back({std::move(key), std::move(value), "",
                           propertyRange(props, path, s.range)});
      };
      add("image", quoteOrNone(s.image), {"image"});
      add("build", quoteOrNone(s.buildContext), {"build"});
      add("dockerfile", quoteOrNone(s.dockerfile), {"dockerfile"});
      add("program", quoteOrNone(s.program), {"program"});
      add("command", s.command.empty() ? None : quotedList(s.command),
          {"command"});
      for (const std::string &port : s.ports)
        add("port " + containerPort(port), quote(port), {"ports"});
      for (const auto &[name, value] : s.env)
        add("env." + name, quote(value), {"env", name});
      add("depends_on", wordList(s.dependsOn), {"depends_on"});
      add("workdir", quoteOrNone(s.workdir), {"workdir"});
      add("restart", s.restart.empty() ? "no" : s.restart, {"restart"});
      add("max_restarts",
          s.restart.empty() ? None : std::to_string(s.maxRestarts),
          {"max_restarts"});
      if (s.health) {
        const ir::HealthCheck &h = *s.health;
        add("health.http", quoteOrNone(h.http), {"health", "http"});
        add("health.command", h.command.empty() ? None : quotedList(h.command),
            {"health", "command"});
        add("health.interval", duration(h.intervalMs), {"health", "interval"});
        add("health.timeout", duration(h.timeoutMs), {"health", "timeout"});
        add("health.retries", std::to_string(h.retries), {"health", "retries"});
      }
      showRawStringsAsWritten(e, props);
      out.push_back(std::move(e));
    }
    return out;
  }

  std::vector<Elem> mcpServers() const {
    std::vector<Elem> out;
    for (const ir::McpServer &s : m.mcpServers) {
      auto it = index.mcpServers.find(s.name);
      const std::vector<ast::Property> *props =
          it == index.mcpServers.end() ? nullptr : &it->second->properties;
      Elem e;
      e.name = s.name;
      e.range = s.range;
      e.summary = s.transport;
      auto add = [&](std::string key, std::string value) {
        SourceRange r = propertyRange(props, {key}, s.range);
        e.props.push_back({std::move(key), std::move(value), "", r});
      };
      add("transport", wordOrNone(s.transport));
      add("command", quoteOrNone(s.command));
      add("args", quotedList(s.args));
      add("url", quoteOrNone(s.url));
      out.push_back(std::move(e));
    }
    return out;
  }

  const ir::Module &m;
  AstIndex index;
};

/// An edge with everything needed to match and describe it.
struct EdgeInfo {
  unsigned index = 0; ///< Position in the workflow's edge list.
  std::string from, to;
  std::string condition; ///< Canonical: compared.
  std::string condShown; ///< As written.
  std::string loop;      ///< Loop name or "".
  std::string loopCap;
  unsigned position = 0, siblings = 0; ///< Among the edges of `from`.
  unsigned occurrence = 0; ///< 1-based among edges with the same (from, to).
  bool repeated = false;   ///< (from, to) occurs more than once.
  SourceRange range;
  std::vector<Prop> props;

  std::string name() const {
    std::string n = from + " -> " + to;
    if (repeated)
      n += " #" + std::to_string(occurrence);
    return n;
  }
  /// "writer when not ok as refine", for order lists.
  std::string label() const {
    std::string s = to;
    if (condition != None)
      s += " when " + condShown;
    if (!loop.empty())
      s += " as " + loop;
    return s;
  }
};

std::vector<EdgeInfo> edgeInfos(const ir::Module &m) {
  const ir::Workflow &wf = m.workflow;
  std::vector<EdgeInfo> out;
  std::map<std::pair<std::string, std::string>, unsigned> pairCount;
  for (const ir::Edge &e : wf.edges) {
    EdgeInfo info;
    info.index = unsigned(out.size());
    info.from = wf.nodes[e.from].name;
    info.to = wf.nodes[e.to].name;
    info.range = e.range;
    switch (e.cond) {
    case ir::Edge::Cond::None:
      info.condition = info.condShown = None;
      break;
    case ir::Edge::Cond::Field:
      info.condition = info.condShown = (e.negated ? "not " : "") + e.field;
      break;
    case ir::Edge::Cond::Expr:
      info.condition = quote(e.expr ? ir::printExpr(*e.expr) : e.exprText);
      info.condShown = quote(e.exprText);
      break;
    }
    if (e.loop >= 0) {
      const ir::Loop &l = wf.loops[e.loop];
      info.loop = l.name;
      info.loopCap =
          l.cap ? std::to_string(*l.cap) : quote(l.capTemplate.source);
    }
    info.occurrence = ++pairCount[{info.from, info.to}];
    unsigned position = 0, siblings = 0;
    for (const ir::Edge &other : wf.edges)
      if (other.from == e.from) {
        ++siblings;
        if (&other == &e)
          position = siblings;
      }
    info.position = position;
    info.siblings = siblings;
    SourceRange condRange = e.condRange.isEmpty() ? e.range : e.condRange;
    info.props.push_back({"to", info.to, "", e.range});
    info.props.push_back(
        {"condition", info.condition, info.condShown, condRange});
    info.props.push_back({"loop", wordOrNone(info.loop), "", e.range});
    for (const ir::WithEntry &w : e.with)
      info.props.push_back(
          {"with." + w.key, quote(w.value.source), "", w.range});
    out.push_back(std::move(info));
  }
  for (EdgeInfo &info : out)
    info.repeated = pairCount[{info.from, info.to}] > 1;
  return out;
}

std::string ordinalOf(unsigned position, unsigned count,
                      const std::string &from) {
  return "edge " + std::to_string(position) + " of " + std::to_string(count) +
         " from " + from;
}

/// Compares elements by name and their properties by key.
class Comparer {
public:
  Comparer(const Side &oldSide, const Side &newSide, std::vector<Change> &out)
      : oldSide(oldSide), newSide(newSide), out(out) {}

  Location oldLoc(SourceRange r) const { return loc(oldSide, r); }
  Location newLoc(SourceRange r) const { return loc(newSide, r); }

  static Location loc(const Side &side, SourceRange r) {
    Location l;
    l.file = side.sourceLabel;
    l.line = side.sources->getLineColumn(side.fileId, r.begin).line;
    return l;
  }

  void added(const std::string &section, const std::string &element,
             const std::string &name, const std::string &summary,
             SourceRange range) {
    Change c;
    c.op = ChangeOp::Added;
    c.section = section;
    c.element = element;
    c.name = name;
    c.summary = summary;
    c.newLoc = newLoc(range);
    out.push_back(std::move(c));
  }

  void removed(const std::string &section, const std::string &element,
               const std::string &name, const std::string &summary,
               SourceRange range) {
    Change c;
    c.op = ChangeOp::Removed;
    c.section = section;
    c.element = element;
    c.name = name;
    c.summary = summary;
    c.oldLoc = oldLoc(range);
    out.push_back(std::move(c));
  }

  /// Property changes of a matched element, NEW's keys first.
  void compareProps(const std::string &section, const std::string &element,
                    const std::string &name, const std::vector<Prop> &olds,
                    SourceRange oldRange, const std::vector<Prop> &news,
                    SourceRange newRange) {
    auto find = [](const std::vector<Prop> &props, const std::string &key) {
      for (const Prop &p : props)
        if (p.key == key)
          return &p;
      return static_cast<const Prop *>(nullptr);
    };
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const std::vector<Prop> *list : {&news, &olds})
      for (const Prop &p : *list)
        if (seen.insert(p.key).second)
          keys.push_back(p.key);
    for (const std::string &key : keys) {
      const Prop *o = find(olds, key), *n = find(news, key);
      std::string ov = o ? o->value : None, nv = n ? n->value : None;
      if (ov == nv)
        continue;
      Change c;
      c.op = ChangeOp::Changed;
      c.section = section;
      c.element = element;
      c.name = name;
      c.property = key;
      c.oldValue = o ? o->shown() : None;
      c.newValue = n ? n->shown() : None;
      c.oldLoc = oldLoc(o ? o->range : oldRange);
      c.newLoc = newLoc(n ? n->range : newRange);
      if ((o && o->multiline) || (n && n->multiline))
        c.lines = shortTextDiff(o ? o->value : "", n ? n->value : "");
      out.push_back(std::move(c));
    }
  }

  void compareElems(const std::string &section, const std::string &element,
                    const std::vector<Elem> &olds,
                    const std::vector<Elem> &news) {
    std::map<std::string, const Elem *> oldByName, newByName;
    for (const Elem &e : olds)
      oldByName.emplace(e.name, &e);
    for (const Elem &e : news)
      newByName.emplace(e.name, &e);
    for (const Elem &n : news) {
      auto it = oldByName.find(n.name);
      if (it == oldByName.end())
        added(section, element, n.name, n.summary, n.range);
      else
        compareProps(section, element, n.name, it->second->props,
                     it->second->range, n.props, n.range);
    }
    for (const Elem &o : olds)
      if (!newByName.count(o.name))
        removed(section, element, o.name, o.summary, o.range);
  }

  /// The single workflow (or budget) element: matched whatever its name.
  void compareSingle(const std::string &section, const std::string &element,
                     const Elem &o, const Elem &n) {
    compareProps(section, element, n.name, o.props, o.range, n.props, n.range);
  }

  /// "(a, b) order [x, y] -> [y, x]" when the relative order of the names
  /// present on both sides differs.
  void compareOrder(const std::string &section, const std::string &element,
                    const std::string &name, const std::string &property,
                    const std::vector<std::string> &oldOrder,
                    const std::vector<std::string> &newOrder,
                    SourceRange oldRange, SourceRange newRange) {
    if (oldOrder == newOrder)
      return;
    Change c;
    c.op = ChangeOp::Reordered;
    c.section = section;
    c.element = element;
    c.name = name;
    c.property = property;
    c.oldValue = wordList(oldOrder);
    c.newValue = wordList(newOrder);
    c.oldLoc = oldLoc(oldRange);
    c.newLoc = newLoc(newRange);
    out.push_back(std::move(c));
  }

  static std::vector<std::string> shortTextDiff(const std::string &a,
                                                const std::string &b) {
    auto withNewline = [](std::string s) {
      if (!s.empty() && s.back() != '\n')
        s += '\n';
      return s;
    };
    std::vector<std::string> lines;
    std::vector<Hunk> hunks = diffLines(withNewline(a), withNewline(b), 1);
    const size_t limit = 40;
    for (size_t i = 0; i < hunks.size(); ++i) {
      if (i)
        lines.push_back("...");
      for (const DiffLine &l : hunks[i].lines)
        lines.push_back(std::string(1, l.tag) + l.text);
    }
    if (lines.size() > limit) {
      size_t more = lines.size() - limit;
      lines.resize(limit);
      lines.push_back("... (" + std::to_string(more) + " more lines)");
    }
    return lines;
  }

  const Side &oldSide;
  const Side &newSide;
  std::vector<Change> &out;
};

void compareEdges(Comparer &cmp, const ir::Module &om, const ir::Module &nm) {
  std::vector<EdgeInfo> olds = edgeInfos(om), news = edgeInfos(nm);
  // Pair edges with the same (from, to): same condition first, then in
  // order.
  std::vector<int> matchOfNew(news.size(), -1), matchOfOld(olds.size(), -1);
  std::map<std::pair<std::string, std::string>, std::vector<unsigned>>
      oldGroups, newGroups;
  for (const EdgeInfo &e : olds)
    oldGroups[{e.from, e.to}].push_back(e.index);
  for (const EdgeInfo &e : news)
    newGroups[{e.from, e.to}].push_back(e.index);
  for (const auto &[key, newList] : newGroups) {
    auto it = oldGroups.find(key);
    if (it == oldGroups.end())
      continue;
    const std::vector<unsigned> &oldList = it->second;
    for (unsigned n : newList)
      for (unsigned o : oldList)
        if (matchOfOld[o] < 0 && news[n].condition == olds[o].condition) {
          matchOfNew[n] = int(o);
          matchOfOld[o] = int(n);
          break;
        }
    size_t next = 0;
    for (unsigned n : newList) {
      if (matchOfNew[n] >= 0)
        continue;
      while (next < oldList.size() && matchOfOld[oldList[next]] >= 0)
        ++next;
      if (next == oldList.size())
        break;
      matchOfNew[n] = int(oldList[next]);
      matchOfOld[oldList[next]] = int(n);
    }
  }
  // An edge that kept its source, condition and loop but not its target
  // was retargeted.
  for (const EdgeInfo &n : news) {
    if (matchOfNew[n.index] >= 0)
      continue;
    for (const EdgeInfo &o : olds)
      if (matchOfOld[o.index] < 0 && o.from == n.from &&
          o.condition == n.condition && o.loop == n.loop) {
        matchOfNew[n.index] = int(o.index);
        matchOfOld[o.index] = int(n.index);
        break;
      }
  }

  for (const EdgeInfo &n : news) {
    if (matchOfNew[n.index] < 0) {
      std::string summary;
      if (n.condition != None)
        summary += "when " + n.condShown + "; ";
      if (!n.loop.empty())
        summary += "as " + n.loop + "(" + n.loopCap + "); ";
      summary += ordinalOf(n.position, n.siblings, n.from);
      cmp.added("edges", "edge", n.name(), summary, n.range);
      continue;
    }
    const EdgeInfo &o = olds[matchOfNew[n.index]];
    cmp.compareProps("edges", "edge", n.name(), o.props, o.range, n.props,
                     n.range);
  }
  for (const EdgeInfo &o : olds) {
    if (matchOfOld[o.index] >= 0)
      continue;
    std::string summary;
    if (o.condition != None)
      summary += "when " + o.condShown + "; ";
    if (!o.loop.empty())
      summary += "as " + o.loop + "(" + o.loopCap + "); ";
    summary += ordinalOf(o.position, o.siblings, o.from);
    cmp.removed("edges", "edge", o.name(), summary, o.range);
  }

  // Selection order: per source node, the matched edges in OLD's order
  // against NEW's.
  std::vector<std::string> sources;
  for (const EdgeInfo &n : news)
    if (std::find(sources.begin(), sources.end(), n.from) == sources.end())
      sources.push_back(n.from);
  for (const std::string &from : sources) {
    std::vector<unsigned> oldOrder, newOrder; // old indices
    SourceRange oldRange, newRange;
    bool oldSeen = false, newSeen = false;
    for (const EdgeInfo &o : olds)
      if (o.from == from) {
        if (!oldSeen)
          oldRange = o.range, oldSeen = true;
        if (matchOfOld[o.index] >= 0)
          oldOrder.push_back(o.index);
      }
    for (const EdgeInfo &n : news)
      if (n.from == from) {
        if (!newSeen)
          newRange = n.range, newSeen = true;
        if (matchOfNew[n.index] >= 0)
          newOrder.push_back(unsigned(matchOfNew[n.index]));
      }
    if (!oldSeen || oldOrder == newOrder)
      continue;
    std::vector<std::string> oldLabels, newLabels;
    for (unsigned o : oldOrder)
      oldLabels.push_back(olds[o].label());
    for (unsigned o : newOrder)
      newLabels.push_back(news[unsigned(matchOfOld[o])].label());
    cmp.compareOrder("edges", "edge", from, "edge order", oldLabels, newLabels,
                     oldRange, newRange);
  }
}

void compareSchemas(Comparer &cmp, const ir::Module &om, const ir::Module &nm) {
  std::map<std::string, const ir::Schema *> oldByName, newByName;
  for (const ir::Schema &s : om.schemas)
    oldByName.emplace(s.name, &s);
  for (const ir::Schema &s : nm.schemas)
    newByName.emplace(s.name, &s);
  for (const ir::Schema &n : nm.schemas) {
    auto it = oldByName.find(n.name);
    if (it == oldByName.end()) {
      cmp.added("schemas", "schema", n.name, Flattener::schemaSummary(n),
                n.range);
      continue;
    }
    const ir::Schema &o = *it->second;
    cmp.compareElems("schemas", "field", Flattener::fields(o),
                     Flattener::fields(n));
    std::vector<std::string> oldOrder, newOrder;
    for (const ir::Field &f : o.fields)
      if (n.find(f.name))
        oldOrder.push_back(f.name);
    for (const ir::Field &f : n.fields)
      if (o.find(f.name))
        newOrder.push_back(f.name);
    cmp.compareOrder("schemas", "schema", n.name, "field order", oldOrder,
                     newOrder, o.range, n.range);
  }
  for (const ir::Schema &o : om.schemas)
    if (!newByName.count(o.name))
      cmp.removed("schemas", "schema", o.name, Flattener::schemaSummary(o),
                  o.range);
}

} // namespace

std::vector<Change> diff::compareModules(const Side &oldSide,
                                         const Side &newSide) {
  std::vector<Change> out;
  Comparer cmp(oldSide, newSide, out);
  Flattener of(oldSide), nf(newSide);
  const ir::Module &om = *oldSide.module, &nm = *newSide.module;

  cmp.compareSingle("workflow", "workflow", of.workflow()[0], nf.workflow()[0]);
  cmp.compareElems("nodes", "node", of.nodes(), nf.nodes());
  compareEdges(cmp, om, nm);
  cmp.compareElems("loops", "loop", of.loops(), nf.loops());
  cmp.compareElems("prompts", "prompt", of.prompts(), nf.prompts());
  compareSchemas(cmp, om, nm);
  cmp.compareElems("vars", "var", of.vars(), nf.vars());
  cmp.compareElems("presets", "preset", of.presets(), nf.presets());
  cmp.compareSingle("budget", "budget", of.budget()[0], nf.budget()[0]);
  cmp.compareElems("services", "service", of.services(), nf.services());
  cmp.compareElems("mcp_servers", "mcp_server", of.mcpServers(),
                   nf.mcpServers());
  return out;
}

//===----------------------------------------------------------------------===//
// The whole comparison
//===----------------------------------------------------------------------===//

static SideInfo sideInfo(const Side &side) {
  SideInfo info;
  info.label = side.label;
  info.kind = side.kind;
  info.recordedPath = side.recordedPath;
  if (side.sourceText)
    info.sourceLabel = side.sourceLabel;
  return info;
}

static std::string missingSourceNote(const Side &side) {
  if (!side.note.empty())
    return side.note;
  switch (side.kind) {
  case SideKind::EmitDirectory:
    return side.label + " is an emit directory without its source";
  case SideKind::Bundle:
    return side.label + " is a bundle without its source";
  case SideKind::Source:
    break;
  }
  return side.label + " has no checked source";
}

DiffResult diff::computeDiff(const Side &oldSide, const Side &newSide,
                             unsigned context) {
  DiffResult r;
  r.oldSide = sideInfo(oldSide);
  r.newSide = sideInfo(newSide);
  if (oldSide.module && newSide.module && oldSide.sources && newSide.sources) {
    r.semanticAvailable = true;
    r.changes = compareModules(oldSide, newSide);
  } else {
    bool bothPlain = !oldSide.module && !newSide.module &&
                     oldSide.note.empty() && newSide.note.empty() &&
                     oldSide.kind == SideKind::EmitDirectory &&
                     newSide.kind == SideKind::EmitDirectory;
    if (bothPlain) {
      r.semanticNote = oldSide.label + " and " + newSide.label +
                       " are emit directories without their source";
    } else {
      std::vector<std::string> notes;
      for (const Side *s : {&oldSide, &newSide})
        if (!s->module)
          notes.push_back(missingSourceNote(*s));
      for (size_t i = 0; i < notes.size(); ++i)
        r.semanticNote += (i ? "; " : "") + notes[i];
    }
  }
  r.sourceTextDiffers = oldSide.sourceText && newSide.sourceText &&
                        *oldSide.sourceText != *newSide.sourceText;

  std::vector<std::string> paths;
  for (const auto &[path, content] : oldSide.files)
    paths.push_back(path);
  for (const auto &[path, content] : newSide.files)
    if (!oldSide.files.count(path))
      paths.push_back(path);
  std::sort(paths.begin(), paths.end(),
            [](const std::string &a, const std::string &b) {
              bool am = a == "manifest.json", bm = b == "manifest.json";
              if (am != bm)
                return bm;
              return a < b;
            });
  for (const std::string &path : paths) {
    auto o = oldSide.files.find(path), n = newSide.files.find(path);
    bool hasOld = o != oldSide.files.end(), hasNew = n != newSide.files.end();
    if (hasOld && hasNew && o->second == n->second)
      continue;
    FileDiff f;
    f.path = path;
    f.status = !hasOld   ? FileStatus::Added
               : !hasNew ? FileStatus::Removed
                         : FileStatus::Modified;
    std::string_view a = hasOld ? std::string_view(o->second) : "";
    std::string_view b = hasNew ? std::string_view(n->second) : "";
    f.binary = a.find('\0') != std::string_view::npos ||
               b.find('\0') != std::string_view::npos;
    if (!f.binary) {
      f.hunks = diffLines(a, b, context);
      for (const Hunk &h : f.hunks)
        for (const DiffLine &l : h.lines) {
          f.added += l.tag == '+';
          f.removed += l.tag == '-';
        }
    }
    r.files.push_back(std::move(f));
  }
  return r;
}

//===----------------------------------------------------------------------===//
// Renderings
//===----------------------------------------------------------------------===//

std::string diff::markdownFence(std::string_view content) {
  size_t longest = 0, run = 0;
  for (char c : content) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

namespace {

std::string locText(const std::optional<Location> &l) {
  return l ? l->file + ":" + std::to_string(l->line) : "";
}

std::string locations(const Change &c) {
  if (c.oldLoc && c.newLoc)
    return locText(c.oldLoc) + " -> " + locText(c.newLoc);
  return c.oldLoc ? locText(c.oldLoc) : locText(c.newLoc);
}

char opSymbol(ChangeOp op) {
  switch (op) {
  case ChangeOp::Added:
    return '+';
  case ChangeOp::Removed:
    return '-';
  case ChangeOp::Changed:
  case ChangeOp::Reordered:
    return '~';
  }
  return '~';
}

char statusLetter(FileStatus s) {
  switch (s) {
  case FileStatus::Added:
    return 'A';
  case FileStatus::Removed:
    return 'D';
  case FileStatus::Modified:
    return 'M';
  }
  return 'M';
}

std::string sideDescription(const SideInfo &s) {
  switch (s.kind) {
  case SideKind::Source:
    return "workflow source";
  case SideKind::EmitDirectory:
  case SideKind::Bundle: {
    std::string out = s.kind == SideKind::Bundle ? "bundle" : "emit directory";
    if (!s.recordedPath.empty())
      out += " of " + s.recordedPath;
    if (!s.sourceLabel.empty())
      out += ", source " + s.sourceLabel;
    return out;
  }
  }
  return "";
}

std::string fileOldName(const FileDiff &f) {
  return f.status == FileStatus::Added ? "/dev/null" : "a/" + f.path;
}
std::string fileNewName(const FileDiff &f) {
  return f.status == FileStatus::Removed ? "/dev/null" : "b/" + f.path;
}

std::string fileUnified(const FileDiff &f) {
  std::string out = "--- " + fileOldName(f) + "\n+++ " + fileNewName(f) + "\n";
  if (f.binary)
    return "Binary files " + fileOldName(f) + " and " + fileNewName(f) +
           " differ\n";
  appendHunks(out, f.hunks);
  return out;
}

std::string filesSummary(const std::vector<FileDiff> &files) {
  size_t added = 0, removed = 0, modified = 0;
  for (const FileDiff &f : files)
    (f.status == FileStatus::Added     ? added
     : f.status == FileStatus::Removed ? removed
                                       : modified)++;
  std::vector<std::string> parts;
  if (modified)
    parts.push_back(std::to_string(modified) + " modified");
  if (added)
    parts.push_back(std::to_string(added) + " added");
  if (removed)
    parts.push_back(std::to_string(removed) + " removed");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i)
    out += (i ? ", " : "") + parts[i];
  return out;
}

/// What the semantic section says when it lists nothing.
std::string semanticEmptyText(const DiffResult &r) {
  if (!r.semanticAvailable)
    return "not available (" + r.semanticNote +
           "); comparing generated files only";
  if (r.sourceTextDiffers)
    return "none (the sources differ only in comments or layout)";
  return "none";
}

class TextRenderer {
public:
  TextRenderer(const DiffResult &r, bool color) : r(r), color(color) {}

  std::string render() {
    line(paint(Bold, "old:") + " " + r.oldSide.label + " (" +
         sideDescription(r.oldSide) + ")");
    line(paint(Bold, "new:") + " " + r.newSide.label + " (" +
         sideDescription(r.newSide) + ")");
    out += "\n";
    if (r.identical()) {
      line("no differences");
      return out;
    }
    if (r.changes.empty()) {
      line(paint(Bold, "semantic changes:") + " " + semanticEmptyText(r));
    } else {
      line(paint(Bold, "semantic changes (" + std::to_string(r.changes.size()) +
                           "):"));
      for (const auto &[section, heading] : sections()) {
        bool first = true;
        for (const Change &c : r.changes) {
          if (c.section != section)
            continue;
          if (first)
            line("  " + paint(Bold, section + ":"));
          first = false;
          change(c);
        }
      }
    }
    out += "\n";
    if (r.files.empty()) {
      line(paint(Bold, "generated files:") + " identical");
      return out;
    }
    line(paint(Bold, "generated files (" + filesSummary(r.files) + "):"));
    for (const FileDiff &f : r.files) {
      std::string l = std::string("  ") + statusLetter(f.status) + " " + f.path;
      if (f.binary)
        l += " (binary)";
      else
        l += " (+" + std::to_string(f.added) + " -" +
             std::to_string(f.removed) + ")";
      line(l);
    }
    for (const FileDiff &f : r.files) {
      out += "\n";
      unified(f);
    }
    return out;
  }

private:
  enum Style { Bold, Red, Green, Yellow, Cyan, Dim };
  const DiffResult &r;
  bool color;
  std::string out;

  std::string paint(Style s, const std::string &text) const {
    if (!color)
      return text;
    static const char *codes[] = {"\033[1m",  "\033[31m", "\033[32m",
                                  "\033[33m", "\033[36m", "\033[2m"};
    return codes[s] + text + "\033[0m";
  }

  void line(const std::string &text) { out += text + "\n"; }

  void change(const Change &c) {
    std::string text(1, opSymbol(c.op));
    text += " " + c.name;
    if (c.op == ChangeOp::Added || c.op == ChangeOp::Removed) {
      if (!c.summary.empty())
        text += " (" + c.summary + ")";
    } else if (!c.lines.empty()) {
      text += ": " + c.property + " changed";
    } else {
      text += ": " + c.property + " " + c.oldValue.value_or(None) + " -> " +
              c.newValue.value_or(None);
    }
    Style style = c.op == ChangeOp::Added     ? Green
                  : c.op == ChangeOp::Removed ? Red
                                              : Yellow;
    line("    " + paint(style, text) + "  " +
         paint(Dim, "[" + locations(c) + "]"));
    for (const std::string &l : c.lines) {
      Style ls = l[0] == '+' ? Green : l[0] == '-' ? Red : Dim;
      line("        " + (l[0] == ' ' ? l : paint(ls, l)));
    }
  }

  void unified(const FileDiff &f) {
    line(paint(Bold, "--- " + fileOldName(f)));
    line(paint(Bold, "+++ " + fileNewName(f)));
    if (f.binary) {
      line("Binary files " + fileOldName(f) + " and " + fileNewName(f) +
           " differ");
      return;
    }
    for (const Hunk &h : f.hunks) {
      line(paint(Cyan, hunkHeader(h)));
      for (const DiffLine &l : h.lines) {
        std::string text = std::string(1, l.tag) + l.text;
        line(l.tag == '+'   ? paint(Green, text)
             : l.tag == '-' ? paint(Red, text)
                            : text);
        if (l.noNewline)
          line("\\ No newline at end of file");
      }
    }
  }
};

/// Escapes what could start markup in inline Markdown text (never at the
/// start of a line here). An underscore inside a word is left alone.
std::string mdText(std::string_view s) {
  auto word = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool escape =
        std::string_view("\\`*[]<>|~").find(c) != std::string_view::npos;
    if (c == '_')
      escape =
          i == 0 || i + 1 == s.size() || !word(s[i - 1]) || !word(s[i + 1]);
    if (escape)
      out += '\\';
    out += c;
  }
  return out;
}

/// An inline code span that survives backticks in `s`.
std::string mdCode(std::string_view s) {
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string ticks(longest + 1, '`');
  bool pad = !s.empty() && (s.front() == '`' || s.back() == '`' ||
                            (s.front() == ' ' && s.back() == ' '));
  std::string body(s);
  for (char &c : body)
    if (c == '\n')
      c = ' ';
  if (pad)
    body = " " + body + " ";
  return ticks + body + ticks;
}

std::string htmlText(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string markdownLocations(const Change &c) {
  if (c.oldLoc && c.newLoc)
    return mdText(locText(c.oldLoc)) + " → " + mdText(locText(c.newLoc));
  return mdText(c.oldLoc ? locText(c.oldLoc) : locText(c.newLoc));
}

std::string renderMarkdown(const DiffResult &r) {
  std::string out = "## iterc diff\n\n";
  out += "- **old:** " + mdCode(r.oldSide.label) + " (" +
         mdText(sideDescription(r.oldSide)) + ")\n";
  out += "- **new:** " + mdCode(r.newSide.label) + " (" +
         mdText(sideDescription(r.newSide)) + ")\n\n";
  if (r.identical())
    return out + "No differences.\n";

  if (r.changes.empty()) {
    out += "### Semantic changes\n\n";
    std::string text = semanticEmptyText(r);
    text[0] = char(std::toupper(static_cast<unsigned char>(text[0])));
    out += mdText(text) + "\n\n";
  } else {
    out += "### Semantic changes (" + std::to_string(r.changes.size()) + ")\n";
    for (const auto &[section, heading] : sections()) {
      bool first = true;
      for (const Change &c : r.changes) {
        if (c.section != section)
          continue;
        if (first)
          out += "\n#### " + heading + "\n\n";
        first = false;
        out +=
            "- **" + std::string(changeOpName(c.op)) + "** " + mdCode(c.name);
        if (c.op == ChangeOp::Added || c.op == ChangeOp::Removed) {
          if (!c.summary.empty())
            out += " (" + mdText(c.summary) + ")";
        } else if (!c.lines.empty()) {
          out += " " + mdText(c.property);
        } else {
          out += " " + mdText(c.property) + ": " +
                 mdCode(c.oldValue.value_or(None)) + " → " +
                 mdCode(c.newValue.value_or(None));
        }
        out += " — " + markdownLocations(c) + "\n";
        if (!c.lines.empty()) {
          std::string body;
          for (const std::string &l : c.lines)
            body += l + "\n";
          std::string fence = markdownFence(body);
          out += "\n  " + fence + "diff\n";
          for (const std::string &l : c.lines)
            out += "  " + l + "\n";
          out += "  " + fence + "\n";
        }
      }
    }
    out += "\n";
  }

  out += "### Generated files";
  if (r.files.empty())
    return out + "\n\nIdentical.\n";
  out += " (" + filesSummary(r.files) + ")\n\n";
  out += "| file | change | lines |\n| --- | --- | --- |\n";
  for (const FileDiff &f : r.files) {
    std::string path = mdCode(f.path);
    std::string lines = f.binary ? "binary"
                                 : "+" + std::to_string(f.added) + " -" +
                                       std::to_string(f.removed);
    std::string cell;
    for (char c : path)
      cell += c == '|' ? std::string("\\|") : std::string(1, c);
    out +=
        "| " + cell + " | " + fileStatusName(f.status) + " | " + lines + " |\n";
  }
  for (const FileDiff &f : r.files) {
    std::string body = fileUnified(f);
    std::string fence = markdownFence(body);
    out += "\n<details><summary><code>" + htmlText(f.path) + "</code>";
    if (!f.binary)
      out += " (+" + std::to_string(f.added) + " -" +
             std::to_string(f.removed) + ")";
    out +=
        "</summary>\n\n" + fence + "diff\n" + body + fence + "\n\n</details>\n";
  }
  return out;
}

Json locationJson(const std::optional<Location> &l) {
  if (!l)
    return nullptr;
  return Json{{"file", l->file}, {"line", l->line}};
}

Json optionalString(const std::optional<std::string> &s) {
  return s ? Json(*s) : Json(nullptr);
}

Json sideJson(const SideInfo &s) {
  Json j;
  j["path"] = s.label;
  j["kind"] = sideKindName(s.kind);
  j["recorded_source"] =
      s.recordedPath.empty() ? Json(nullptr) : Json(s.recordedPath);
  j["source"] = s.sourceLabel.empty() ? Json(nullptr) : Json(s.sourceLabel);
  return j;
}

std::string renderJson(const DiffResult &r) {
  Json j;
  j["format"] = "iterc-diff";
  j["version"] = 1;
  j["identical"] = r.identical();
  j["old"] = sideJson(r.oldSide);
  j["new"] = sideJson(r.newSide);
  Json semantic;
  semantic["available"] = r.semanticAvailable;
  semantic["note"] =
      r.semanticNote.empty() ? Json(nullptr) : Json(r.semanticNote);
  semantic["source_text_differs"] = r.sourceTextDiffers;
  Json changes = Json::array();
  for (const Change &c : r.changes) {
    Json cj;
    cj["op"] = changeOpName(c.op);
    cj["section"] = c.section;
    cj["element"] = c.element;
    cj["name"] = c.name;
    cj["property"] = c.property.empty() ? Json(nullptr) : Json(c.property);
    cj["summary"] = c.summary.empty() ? Json(nullptr) : Json(c.summary);
    cj["old"] = optionalString(c.oldValue);
    cj["new"] = optionalString(c.newValue);
    cj["old_location"] = locationJson(c.oldLoc);
    cj["new_location"] = locationJson(c.newLoc);
    cj["text_diff"] = c.lines;
    changes.push_back(std::move(cj));
  }
  semantic["changes"] = std::move(changes);
  j["semantic"] = std::move(semantic);
  Json files = Json::array();
  for (const FileDiff &f : r.files) {
    Json fj;
    fj["path"] = f.path;
    fj["status"] = fileStatusName(f.status);
    fj["binary"] = f.binary;
    fj["added"] = f.added;
    fj["removed"] = f.removed;
    Json hunks = Json::array();
    for (const Hunk &h : f.hunks) {
      Json hj;
      hj["old_start"] = h.oldStart;
      hj["old_lines"] = h.oldCount;
      hj["new_start"] = h.newStart;
      hj["new_lines"] = h.newCount;
      Json lines = Json::array();
      for (const DiffLine &l : h.lines) {
        lines.push_back(std::string(1, l.tag) + l.text);
        if (l.noNewline)
          lines.push_back("\\ No newline at end of file");
      }
      hj["lines"] = std::move(lines);
      hunks.push_back(std::move(hj));
    }
    fj["hunks"] = std::move(hunks);
    files.push_back(std::move(fj));
  }
  j["files"] = std::move(files);
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

} // namespace

std::string diff::renderDiff(const DiffResult &result,
                             const DiffRenderOptions &options) {
  switch (options.format) {
  case DiffFormat::Text:
    return TextRenderer(result, options.color).render();
  case DiffFormat::Markdown:
    return renderMarkdown(result);
  case DiffFormat::Json:
    return renderJson(result);
  }
  return "";
}
