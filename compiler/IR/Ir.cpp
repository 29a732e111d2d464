//===- Ir.cpp - Checked intermediate representation -----------------------===//
//
// This file implements the IR's names and lookups.
//
//===----------------------------------------------------------------------===//
#include "IR/Ir.h"

using namespace iterc;
using namespace iterc::ir;

const char *ir::typeName(TypeKind type) {
  switch (type) {
  case TypeKind::String:
    return "string";
  case TypeKind::Bool:
    return "bool";
  case TypeKind::Int:
    return "int";
  case TypeKind::Float:
    return "float";
  case TypeKind::Json:
    return "json";
  case TypeKind::StringList:
    return "string[]";
  case TypeKind::Files:
    return "files";
  }
  return "json";
}

const char *ir::nodeKindName(NodeKind kind) {
  switch (kind) {
  case NodeKind::Agent:
    return "agent";
  case NodeKind::Judge:
    return "judge";
  case NodeKind::Router:
    return "router";
  case NodeKind::Join:
    return "join";
  case NodeKind::Human:
    return "human";
  case NodeKind::Tool:
    return "tool";
  case NodeKind::Compute:
    return "compute";
  case NodeKind::Verify:
    return "verify";
  case NodeKind::Done:
    return "done";
  case NodeKind::Fail:
    return "fail";
  }
  return "agent";
}

const char *ir::routerModeName(RouterMode mode) {
  switch (mode) {
  case RouterMode::FanOutAll:
    return "fan_out_all";
  case RouterMode::Condition:
    return "condition";
  case RouterMode::RoundRobin:
    return "round_robin";
  case RouterMode::Llm:
    return "llm";
  }
  return "fan_out_all";
}

const char *ir::awaitModeName(AwaitMode mode) {
  switch (mode) {
  case AwaitMode::None:
    return "none";
  case AwaitMode::WaitAll:
    return "wait_all";
  case AwaitMode::BestEffort:
    return "best_effort";
  }
  return "none";
}

const char *ir::interactionName(Interaction mode) {
  switch (mode) {
  case Interaction::None:
    return "none";
  case Interaction::Human:
    return "human";
  case Interaction::Llm:
    return "llm";
  case Interaction::LlmOrHuman:
    return "llm_or_human";
  }
  return "human";
}

const char *ir::sessionModeName(SessionMode mode) {
  switch (mode) {
  case SessionMode::Fresh:
    return "fresh";
  case SessionMode::Inherit:
    return "inherit";
  case SessionMode::Fork:
    return "fork";
  case SessionMode::ArtifactsOnly:
    return "artifacts_only";
  case SessionMode::InheritIfAvailable:
    return "inherit_if_available";
  }
  return "fresh";
}

const Field *Schema::find(std::string_view field) const {
  for (const Field &f : fields)
    if (f.name == field)
      return &f;
  return nullptr;
}

bool Node::callsModel() const {
  switch (kind) {
  case NodeKind::Agent:
  case NodeKind::Judge:
    return true;
  case NodeKind::Router:
    return routerMode == RouterMode::Llm;
  case NodeKind::Human:
    return interaction == Interaction::Llm ||
           interaction == Interaction::LlmOrHuman;
  default:
    return false;
  }
}

int Workflow::findNode(std::string_view name) const {
  for (const Node &n : nodes)
    if (n.name == name)
      return n.index;
  return -1;
}

template <typename T>
static int findByName(const std::vector<T> &items, std::string_view name) {
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].name == name)
      return i;
  return -1;
}

int Module::findSchema(std::string_view name) const {
  return findByName(schemas, name);
}
int Module::findPrompt(std::string_view name) const {
  return findByName(prompts, name);
}
int Module::findVar(std::string_view name) const {
  return findByName(vars, name);
}
