//===- WorkflowTestUtil.h - Workflow tables built in tests ------*- C++ -*-===//
//
// Small builders for the pieces of hand-made workflow tables that the
// engine, app and stack tests share, and a summary of the events they get.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H
#define ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H

#include "iterc/rt/Stack.h"
#include "iterc/rt/Store.h"
#include "iterc/rt/Tool.h"
#include "iterc/rt/Workflow.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iterc::rt::test {

/// A template of literal text only.
inline Template text(const std::string &s) {
  Template t;
  t.parts.push_back({s, std::nullopt});
  return t;
}

/// A template of one reference, e.g. ref(RefNs::Input, {"topic"}).
inline Template ref(RefNs ns, std::vector<std::string> path) {
  Template t;
  TemplatePart p;
  p.ref = TemplateRef{ns, std::move(path), false};
  t.parts.push_back(p);
  return t;
}

inline SchemaDesc
schema(const std::string &name,
       std::vector<std::pair<std::string, FieldType>> fields) {
  SchemaDesc s;
  s.name = name;
  for (auto &[n, t] : fields)
    s.fields.push_back({n, t, {}});
  return s;
}

/// An unconditional edge.
inline EdgeDesc edge(int from, int to) {
  EdgeDesc e;
  e.from = from;
  e.to = to;
  return e;
}

/// Each event as "type" or "type:node", in order.
inline std::vector<std::string> eventTypes(const std::vector<Event> &events) {
  std::vector<std::string> out;
  for (const Event &e : events)
    out.push_back(e.type + (e.nodeId.empty() ? "" : ":" + e.nodeId));
  return out;
}

/// Edges from verify node `verify`: to `done` when it passed, else to
/// `fail` (addTerminals first).
inline void routeOnPassed(WorkflowDesc &wf, int verify) {
  EdgeDesc passed = edge(verify, wf.doneIndex());
  passed.cond = EdgeDesc::Cond::Field;
  passed.field = "passed";
  wf.edges.push_back(passed);
  wf.edges.push_back(edge(verify, wf.failIndex()));
}

/// A tool runner whose every tool does `act` in the test's process and
/// exits 0 (e.g. a tool that kills a service mid-run).
struct CallbackTools : ToolRunner {
  explicit CallbackTools(std::function<void()> act) : act(std::move(act)) {}
  Expected<ToolResult> run(const ToolInvocation &) override {
    act();
    ToolResult r;
    r.exitCode = 0;
    return r;
  }
  std::function<void()> act;
};

/// The stack `service`; a tool node `act`, then a verify node `probe` of
/// GET `path` on the service: passed -> done, otherwise -> fail.
inline WorkflowDesc actThenProbeWorkflow(const ServiceDesc &service,
                                         const std::string &path) {
  WorkflowDesc wf;
  wf.name = "act-then-probe";
  wf.sourceSha256 = "h";
  wf.services = {service};
  wf.stack = {service.name};
  NodeDesc act;
  act.kind = NodeKind::Tool;
  act.name = "act";
  act.command = text("act");
  wf.nodes.push_back(act); // 0
  NodeDesc probe;
  probe.kind = NodeKind::Verify;
  probe.name = "probe";
  HttpCheckDesc check;
  check.name = "up";
  check.service = service.name;
  check.path = text(path);
  check.timeoutMs = 5000;
  probe.httpChecks.push_back(check);
  wf.nodes.push_back(probe); // 1
  addTerminals(wf);
  wf.edges.push_back(edge(0, 1));
  routeOnPassed(wf, 1);
  return wf;
}

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H
