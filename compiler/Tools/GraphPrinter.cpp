//===- GraphPrinter.cpp - Mermaid and DOT renderings of a workflow --------===//
//
// This file implements printGraph. Node ids are positional (n0, n1, ...) so
// any node name, Unicode included, renders; names appear only in labels,
// escaped for the target format.
//
//===----------------------------------------------------------------------===//
#include "Tools/GraphPrinter.h"

#include <set>

using namespace iterc;

/// Per edge (in declaration order), whether it is a fallback: unconditional,
/// after a conditional edge of the same node, so taken when none holds.
static std::vector<bool> fallbackEdges(const ir::Workflow &wf) {
  std::vector<bool> sawConditional(wf.nodes.size(), false);
  std::vector<bool> fallback;
  for (const ir::Edge &e : wf.edges) {
    bool known = e.from < sawConditional.size();
    fallback.push_back(known && e.cond == ir::Edge::Cond::None &&
                       sawConditional[e.from]);
    if (known && e.cond != ir::Edge::Cond::None)
      sawConditional[e.from] = true;
  }
  return fallback;
}

static std::string edgeLabel(const ir::Module &m, const ir::Edge &e,
                             bool fallback) {
  std::string label;
  if (e.cond == ir::Edge::Cond::Field)
    label = (e.negated ? "not " : "") + e.field;
  else if (e.cond == ir::Edge::Cond::Expr)
    label = e.exprText;
  else if (fallback)
    label = "otherwise";
  if (e.loop >= 0) {
    const ir::Loop &loop = m.workflow.loops[e.loop];
    std::string cap = loop.cap ? std::to_string(*loop.cap) : "?";
    if (!label.empty())
      label += " ";
    label += "↺ " + loop.name + " ≤" + cap;
    if (loop.noProgress)
      label += ", no progress " + std::to_string(loop.noProgress);
  }
  return label;
}

static std::string nodeLabel(const ir::Node &n) {
  std::string label = n.name;
  if (!n.isTerminal()) {
    label += " (";
    label += ir::nodeKindName(n.kind);
    if (n.kind == ir::NodeKind::Router)
      label += std::string(" ") + ir::routerModeName(n.routerMode);
    label += ")";
  }
  if (n.await != ir::AwaitMode::None)
    label += std::string(" await ") + ir::awaitModeName(n.await);
  return label;
}

static std::string mermaidEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"')
      out += "#quot;";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

static std::string dotEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

static std::set<unsigned> usedNodes(const ir::Workflow &wf) {
  std::set<unsigned> used;
  for (const ir::Node &n : wf.nodes)
    if (!n.isTerminal())
      used.insert(n.index);
  for (const ir::Edge &e : wf.edges) {
    used.insert(e.from);
    used.insert(e.to);
  }
  used.insert(wf.entry);
  return used;
}

/// The edges that involve services: `start` to each service the workflow
/// starts, a service to those it depends on, and a tool to the services it
/// restarts. Node ids: "start", "n<node>", "s<service>".
struct ServiceEdge {
  std::string from, to, label;
};

static std::vector<ServiceEdge> serviceEdges(const ir::Module &m) {
  auto serviceId = [&](const std::string &name) -> std::string {
    for (size_t i = 0; i < m.services.size(); ++i)
      if (m.services[i].name == name)
        return "s" + std::to_string(i);
    return "";
  };
  std::vector<ServiceEdge> edges;
  for (const std::string &name : m.workflow.services)
    if (std::string id = serviceId(name); !id.empty())
      edges.push_back({"start", id, "starts"});
  for (size_t i = 0; i < m.services.size(); ++i)
    for (const std::string &dep : m.services[i].dependsOn)
      if (std::string id = serviceId(dep); !id.empty())
        edges.push_back({"s" + std::to_string(i), id, "depends on"});
  for (const ir::Node &n : m.workflow.nodes)
    for (const std::string &name : n.restart)
      if (std::string id = serviceId(name); !id.empty())
        edges.push_back({"n" + std::to_string(n.index), id, "restart"});
  return edges;
}

static std::string printMermaid(const ir::Module &m) {
  const ir::Workflow &wf = m.workflow;
  std::string out = "flowchart TD\n";
  std::vector<bool> fallback = fallbackEdges(wf);
  for (unsigned i : usedNodes(wf)) {
    const ir::Node &n = wf.nodes[i];
    std::string id = "n" + std::to_string(i);
    std::string label = "\"" + mermaidEscape(nodeLabel(n)) + "\"";
    std::string shape;
    switch (n.kind) {
    case ir::NodeKind::Agent:
      shape = "[" + label + "]";
      break;
    case ir::NodeKind::Judge:
      shape = "{{" + label + "}}";
      break;
    case ir::NodeKind::Router:
      shape = "{" + label + "}";
      break;
    case ir::NodeKind::Join:
      shape = "((" + label + "))";
      break;
    case ir::NodeKind::Human:
      shape = "[/" + label + "/]";
      break;
    case ir::NodeKind::Tool:
      shape = "[[" + label + "]]";
      break;
    case ir::NodeKind::Compute:
      shape = "[(" + label + ")]";
      break;
    case ir::NodeKind::Verify:
      shape = ">" + label + "]";
      break;
    case ir::NodeKind::Done:
    case ir::NodeKind::Fail:
      shape = "(((" + label + ")))";
      break;
    }
    out += "  " + id + shape + "\n";
  }
  for (size_t i = 0; i < m.services.size(); ++i)
    out += "  s" + std::to_string(i) + "([\"" +
           mermaidEscape(m.services[i].name + " (service)") + "\"])\n";
  out += "  start((start)) --> n" + std::to_string(wf.entry) + "\n";
  for (const ServiceEdge &e : serviceEdges(m))
    out += "  " + e.from + " -.->|\"" + e.label + "\"| " + e.to + "\n";
  for (const ir::Edge &e : wf.edges) {
    std::string label = edgeLabel(m, e, fallback[&e - wf.edges.data()]);
    std::string arrow = e.loop >= 0 ? "-.->" : "-->";
    out += "  n" + std::to_string(e.from) + " " + arrow;
    if (!label.empty())
      out += "|\"" + mermaidEscape(label) + "\"|";
    out += " n" + std::to_string(e.to) + "\n";
  }
  return out;
}

static std::string printDot(const ir::Module &m) {
  const ir::Workflow &wf = m.workflow;
  std::string out = "digraph \"" + dotEscape(wf.name) + "\" {\n";
  std::vector<bool> fallback = fallbackEdges(wf);
  // Edge labels in the nodes' font (Graphviz's default is Times).
  out += "  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n"
         "  edge [fontname=\"Helvetica\"];\n";
  out += "  start [shape=point];\n";
  for (unsigned i : usedNodes(wf)) {
    const ir::Node &n = wf.nodes[i];
    const char *shape = "box";
    switch (n.kind) {
    case ir::NodeKind::Agent:
      shape = "box";
      break;
    case ir::NodeKind::Judge:
      shape = "hexagon";
      break;
    case ir::NodeKind::Router:
      shape = "diamond";
      break;
    case ir::NodeKind::Join:
      shape = "circle";
      break;
    case ir::NodeKind::Human:
      shape = "parallelogram";
      break;
    case ir::NodeKind::Tool:
      shape = "component";
      break;
    case ir::NodeKind::Compute:
      shape = "cylinder";
      break;
    case ir::NodeKind::Verify:
      shape = "cds";
      break;
    case ir::NodeKind::Done:
    case ir::NodeKind::Fail:
      shape = "doublecircle";
      break;
    }
    out += "  n" + std::to_string(i) + " [label=\"" +
           dotEscape(nodeLabel(n)) + "\", shape=" + shape;
    if (n.await != ir::AwaitMode::None)
      out += ", peripheries=2";
    out += "];\n";
  }
  for (size_t i = 0; i < m.services.size(); ++i)
    out += "  s" + std::to_string(i) + " [label=\"" +
           dotEscape(m.services[i].name + " (service)") + "\", shape=box3d];\n";
  out += "  start -> n" + std::to_string(wf.entry) + ";\n";
  for (const ServiceEdge &e : serviceEdges(m))
    out += "  " + e.from + " -> " + e.to + " [label=\"" + e.label +
           "\", style=dotted];\n";
  for (const ir::Edge &e : wf.edges) {
    out += "  n" + std::to_string(e.from) + " -> n" + std::to_string(e.to);
    std::string label = edgeLabel(m, e, fallback[&e - wf.edges.data()]);
    std::string attrs;
    if (!label.empty())
      attrs += "label=\"" + dotEscape(label) + "\"";
    if (e.loop >= 0)
      attrs += std::string(attrs.empty() ? "" : ", ") + "style=dashed";
    if (!attrs.empty())
      out += " [" + attrs + "]";
    out += ";\n";
  }
  out += "}\n";
  return out;
}

std::string iterc::printGraph(const ir::Module &module, GraphFormat format) {
  return format == GraphFormat::Mermaid ? printMermaid(module)
                                        : printDot(module);
}
