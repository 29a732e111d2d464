//===- Scope.h - What templates and expressions can read --------*- C++ -*-===//
//
// This file declares Scope, the read-only view of a run that templates and
// compiled expressions see (vars, the node's input, every node's latest
// output and its history, artifacts, loop counters, the run id), the three
// ways a template renders (prompt text, typed `with` values, shell
// commands), and the operators compiled expressions call.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SCOPE_H
#define ITERC_RT_SCOPE_H

#include "iterc/rt/ShellScan.h"
#include "iterc/rt/Workflow.h"

#include <optional>
#include <string>
#include <vector>

namespace iterc::rt {

class Scope {
public:
  virtual ~Scope() = default;
  /// The value at `path` in namespace `ns`, or nullopt when absent.
  /// `outputs.<node>.history` is the array of every output the node
  /// produced in this run, oldest first.
  virtual std::optional<Json> get(RefNs ns,
                                  const std::vector<std::string> &path) const = 0;
  /// Directory relative paths in `exists()` are resolved against.
  virtual std::string workspace() const { return "."; }
};

/// A Scope over plain JSON objects (tests, compute nodes, verify checks).
class JsonScope : public Scope {
public:
  Json vars = Json::object();
  Json input = Json::object();
  Json outputs = Json::object();    ///< node -> latest output
  Json history = Json::object();    ///< node -> [outputs]
  Json artifacts = Json::object();
  Json loops = Json::object();      ///< loop -> {iteration, max, previous_output}
  Json run = Json::object();        ///< {id}
  std::string workspaceDir = ".";

  std::optional<Json> get(RefNs ns,
                          const std::vector<std::string> &path) const override;
  std::string workspace() const override { return workspaceDir; }
};

/// Drills into `value` along `path` (object keys; array indices as digits).
std::optional<Json> drill(const Json &value,
                          const std::vector<std::string> &path, size_t from);

/// Prompt text: strings inserted as they are, other values as JSON, absent
/// values as nothing.
std::string renderText(const Template &t, const Scope &scope);
/// A `with` value: a template that is one reference yields the referenced
/// value with its type; anything else yields the rendered text.
Json renderValue(const Template &t, const Scope &scope);
/// A shell command (ShellCommand.cpp): every value — `{{ref}}` (objects and
/// arrays as JSON) or `${NAME}` from the runner's environment — reaches the
/// command as data, through a variable assigned at its top and referenced in
/// the form its context needs; `{{!x}}` inserts the value as code. An error
/// when a value lands where that cannot be assured (ShellScan.h) or holds a
/// NUL byte.
Expected<std::string> renderShell(const Template &t, const Scope &scope,
                                  shell::Dialect dialect);
/// Text for a program that is not a shell (env values, python and node
/// scripts): values inserted as they are, `${NAME}` read from the runner's
/// environment in the template's own text only, never in a value.
std::string renderTextWithEnv(const Template &t, const Scope &scope);

/// Operators and built-in functions of compiled expressions.
namespace expr {
/// nil, false, "", "false", "no", "0", 0, [] and {} are false.
bool truthy(const Json &v);
Json path(const Scope &scope, RefNs ns, const std::vector<std::string> &p);
Json notOp(const Json &a);
Json neg(const Json &a);
Json andOp(const Json &a, const Json &b);
Json orOp(const Json &a, const Json &b);
Json eq(const Json &a, const Json &b);
Json ne(const Json &a, const Json &b);
Json lt(const Json &a, const Json &b);
Json le(const Json &a, const Json &b);
Json gt(const Json &a, const Json &b);
Json ge(const Json &a, const Json &b);
Json add(const Json &a, const Json &b);
Json sub(const Json &a, const Json &b);
Json mul(const Json &a, const Json &b);
Json div(const Json &a, const Json &b);
Json mod(const Json &a, const Json &b);
Json length(const Json &a);
Json concat(const std::vector<Json> &args);
Json unique(const Json &a);
Json contains(const Json &haystack, const Json &needle);
Json join(const Json &list, const Json &separator);
Json exists(const Scope &scope, const Json &relativePath);
/// The value at `path` inside `v`, or null.
Json member(const Json &v, const std::vector<std::string> &path);
/// Quantifiers (Program.h's allOf/anyOf): a value that is not a list gives
/// false; all of [] is true, any of [] false.
Json all(const Json &list);
Json any(const Json &list);
Json all(const Json &list, const std::function<Json(const Json &)> &cond);
Json any(const Json &list, const std::function<Json(const Json &)> &cond);
} // namespace expr

} // namespace iterc::rt

#endif // ITERC_RT_SCOPE_H
