//===- Ast.cpp - Abstract syntax tree of a .iter file ---------------------===//
//
// This file implements the few AST helpers that are more than accessors.
//
//===----------------------------------------------------------------------===//
#include "Frontend/Ast.h"

using namespace iterc::ast;

std::string PromptDecl::body() const {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0)
      out += '\n';
    out += lines[i].text;
  }
  return out;
}

static const Property *findLast(const std::vector<Property> &properties,
                                std::string_view key) {
  const Property *found = nullptr;
  for (const Property &p : properties)
    if (p.key.text == key)
      found = &p;
  return found;
}

const Property *NodeDecl::find(std::string_view key) const {
  return findLast(properties, key);
}

const Property *WorkflowDecl::find(std::string_view key) const {
  return findLast(properties, key);
}
