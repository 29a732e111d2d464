//===- ParallelGates.cpp - Human gates inside parallel branches ----------===//
//
// Walks each parallel router's branches the way the engine does (C144).
//
//===----------------------------------------------------------------------===//
#include "Sema/ParallelGates.h"

#include <set>

using namespace iterc;

namespace {

bool fansOut(const ir::Node &n) {
  return n.kind == ir::NodeKind::Router &&
         (n.routerMode == ir::RouterMode::FanOutAll ||
          (n.routerMode == ir::RouterMode::Llm && n.multi));
}

/// Where branches meet: the engine's convergence test.
bool converges(const ir::Workflow &wf, unsigned node) {
  const ir::Node &n = wf.nodes[node];
  if (n.await != ir::AwaitMode::None || n.kind == ir::NodeKind::Join)
    return true;
  std::set<unsigned> from;
  for (unsigned ei : wf.incoming[node])
    if (wf.edges[ei].loop < 0)
      from.insert(wf.edges[ei].from);
  return from.size() >= 2;
}

} // namespace

std::vector<sema::GateInBranch>
sema::humanGatesInBranches(const ir::Workflow &wf) {
  std::vector<int> routerOf(wf.nodes.size(), -1);
  for (const ir::Node &router : wf.nodes) {
    if (!fansOut(router) || router.index >= wf.outgoing.size())
      continue;
    std::vector<unsigned> stack;
    std::set<unsigned> seen;
    for (unsigned ei : wf.outgoing[router.index])
      if (wf.edges[ei].loop < 0)
        stack.push_back(wf.edges[ei].to);
    while (!stack.empty()) {
      unsigned node = stack.back();
      stack.pop_back();
      if (node == router.index || !seen.insert(node).second ||
          converges(wf, node))
        continue;
      const ir::Node &n = wf.nodes[node];
      if (n.kind == ir::NodeKind::Human && routerOf[node] < 0)
        routerOf[node] = int(router.index);
      if (n.isTerminal() || node >= wf.outgoing.size())
        continue;
      for (unsigned ei : wf.outgoing[node])
        if (wf.edges[ei].loop < 0)
          stack.push_back(wf.edges[ei].to);
    }
  }
  std::vector<GateInBranch> gates;
  for (unsigned i = 0; i < routerOf.size(); ++i)
    if (routerOf[i] >= 0)
      gates.push_back({i, unsigned(routerOf[i])});
  return gates;
}
