//===- WorkflowTestUtil.h - Workflow tables built in tests ------*- C++ -*-===//
//
// Small builders for the pieces of hand-made workflow tables that the
// engine, app and stack tests share, and a summary of the events they get.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H
#define ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H

#include "iterc/rt/Store.h"
#include "iterc/rt/Workflow.h"

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

} // namespace iterc::rt::test

#endif // ITERC_TESTS_RUNTIME_WORKFLOWTESTUTIL_H
