//===- Workflow.cpp - The static description of a workflow ----------------===//
//
// This file implements what the workflow tables compute for themselves: the
// JSON Schema of an output schema, field-level validation of a reply, node
// lookup and the outgoing-edge index.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Workflow.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>

using namespace iterc::rt;

const char *iterc::rt::fieldTypeName(FieldType type) {
  switch (type) {
  case FieldType::String:
    return "string";
  case FieldType::Bool:
    return "bool";
  case FieldType::Int:
    return "int";
  case FieldType::Float:
    return "float";
  case FieldType::Json:
    return "json";
  case FieldType::StringList:
    return "string[]";
  case FieldType::Files:
    return "files";
  }
  return "json";
}

const char *iterc::rt::jsonTypeName(const Json &v) {
  switch (v.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "bool";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
    return "int";
  case Json::value_t::number_float:
    return "float";
  case Json::value_t::string:
    return "string";
  case Json::value_t::array:
    return "array";
  case Json::value_t::object:
    return "object";
  default:
    return "value";
  }
}

bool iterc::rt::fieldValueMatches(FieldType type, const Json &v) {
  bool ok = true;
  switch (type) {
  case FieldType::String:
    ok = v.is_string();
    break;
  case FieldType::Bool:
    ok = v.is_boolean();
    break;
  case FieldType::Int:
    // A whole number in int64 range: an unsigned above INT64_MAX, or a
    // float beyond 2^53 (where doubles skip whole numbers, and a cast to
    // int64 may overflow), is not one.
    if (v.is_number_unsigned())
      ok = v.get<uint64_t>() <= uint64_t(INT64_MAX);
    else if (v.is_number_float())
      ok = std::trunc(v.get<double>()) == v.get<double>() &&
           std::fabs(v.get<double>()) <= 9007199254740992.0;
    else
      ok = v.is_number_integer();
    break;
  case FieldType::Float:
    ok = v.is_number();
    break;
  case FieldType::Json:
    ok = true;
    break;
  case FieldType::StringList:
    ok = v.is_array();
    if (ok)
      for (const Json &item : v)
        ok = ok && item.is_string();
    break;
  case FieldType::Files:
    ok = v.is_array();
    if (ok)
      for (const Json &item : v)
        ok = ok && item.is_object() && item.contains("path") &&
             item["path"].is_string() && item.contains("content") &&
             item["content"].is_string();
    break;
  }
  return ok;
}

Json SchemaDesc::jsonSchema() const {
  Json properties = Json::object();
  Json required = Json::array();
  for (const FieldDesc &f : fields) {
    Json p;
    switch (f.type) {
    case FieldType::String:
      p["type"] = "string";
      if (!f.enumValues.empty())
        p["enum"] = f.enumValues;
      break;
    case FieldType::Bool:
      p["type"] = "boolean";
      break;
    case FieldType::Int:
      p["type"] = "integer";
      break;
    case FieldType::Float:
      p["type"] = "number";
      break;
    case FieldType::Json:
      p = Json::object();
      break;
    case FieldType::StringList:
      p["type"] = "array";
      p["items"] = {{"type", "string"}};
      break;
    case FieldType::Files: {
      Json file;
      file["type"] = "object";
      file["properties"] = {{"path", {{"type", "string"}}},
                            {"content", {{"type", "string"}}}};
      file["required"] = Json::array({"path", "content"});
      p["type"] = "array";
      p["items"] = file;
      break;
    }
    }
    properties[f.name] = p;
    required.push_back(f.name);
  }
  Json schema;
  schema["type"] = "object";
  schema["properties"] = properties;
  schema["required"] = required;
  schema["additionalProperties"] = false;
  return schema;
}

std::vector<std::string> SchemaDesc::validate(const Json &value) const {
  if (validator)
    return validator(value);
  std::vector<std::string> problems;
  if (!value.is_object()) {
    problems.push_back(std::string("expected a JSON object, got ") +
                       jsonTypeName(value));
    return problems;
  }
  for (const FieldDesc &f : fields) {
    if (!f.name.empty() && f.name[0] == '_')
      continue;
    auto it = value.find(f.name);
    if (it == value.end()) {
      problems.push_back("field '" + f.name + "' is missing");
      continue;
    }
    const Json &v = *it;
    bool ok = fieldValueMatches(f.type, v);
    if (!ok) {
      problems.push_back("field '" + f.name + "': expected " +
                         fieldTypeName(f.type) + ", got " + jsonTypeName(v));
      continue;
    }
    if (f.type == FieldType::String && !f.enumValues.empty()) {
      std::string s = v.get<std::string>();
      bool found = false;
      for (const std::string &e : f.enumValues)
        found = found || e == s;
      if (!found) {
        std::string list;
        for (size_t i = 0; i < f.enumValues.size(); ++i)
          list += (i ? ", " : "") + f.enumValues[i];
        problems.push_back("field '" + f.name + "': '" + s +
                           "' is not one of " + list);
      }
    }
  }
  return problems;
}

std::string iterc::rt::expandEnv(const std::string &text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out.push_back(text[i]);
      continue;
    }
    size_t j = i + 2;
    while (
        j < text.size() &&
        (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_'))
      ++j;
    std::string name = text.substr(i + 2, j - i - 2);
    std::string fallback;
    bool hasDefault = false;
    if (text.compare(j, 2, ":-") == 0) {
      int depth = 1;
      size_t k = j + 2;
      for (; k < text.size(); ++k) {
        if (text[k] == '{')
          ++depth;
        else if (text[k] == '}' && --depth == 0)
          break;
      }
      fallback = expandEnv(text.substr(j + 2, k - j - 2));
      hasDefault = true;
      j = k;
    }
    if (j >= text.size() || text[j] != '}') {
      out.push_back(text[i]);
      continue;
    }
    const char *value = std::getenv(name.c_str());
    if (value && *value)
      out += value;
    else if (hasDefault)
      out += fallback;
    i = j;
  }
  return out;
}

const SchemaDesc &iterc::rt::approvalSchema() {
  static const SchemaDesc schema = [] {
    SchemaDesc s;
    s.name = "approval";
    s.fields.push_back(FieldDesc{"approved", FieldType::Bool, {}});
    return s;
  }();
  return schema;
}

const SchemaDesc *iterc::rt::answerSchema(const WorkflowDesc &wf,
                                          const NodeDesc &node) {
  if (node.kind == NodeKind::Tool && node.approval)
    return &approvalSchema();
  if (node.output >= 0 && size_t(node.output) < wf.schemas.size())
    return &wf.schemas[size_t(node.output)];
  return nullptr;
}

int WorkflowDesc::findNode(std::string_view name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name)
      return int(i);
  return -1;
}

NodeIndex::NodeIndex(const WorkflowDesc &wf) {
  byName.reserve(wf.nodes.size());
  for (size_t i = 0; i < wf.nodes.size(); ++i)
    byName.emplace(wf.nodes[i].name, int(i));
}

int NodeIndex::find(std::string_view name) const {
  auto it = byName.find(name);
  return it == byName.end() ? -1 : it->second;
}

std::vector<std::vector<int>> WorkflowDesc::outgoing() const {
  std::vector<std::vector<int>> out(nodes.size());
  for (size_t i = 0; i < edges.size(); ++i)
    if (edges[i].from >= 0 && size_t(edges[i].from) < nodes.size())
      out[edges[i].from].push_back(int(i));
  return out;
}

RequestTimeouts WorkflowDesc::requestTimeouts(const NodeDesc &node,
                                              const std::string &provider,
                                              const std::string &model) const {
  RequestTimeouts t{node.requestConnectMs, node.requestFirstByteMs,
                    node.requestTotalMs};
  // The exact model first, then the provider's wildcard.
  for (const std::string &key : {provider + "/" + model, provider + "/*"})
    for (const ModelTimeoutsDesc &m : modelTimeouts) {
      if (m.model != key)
        continue;
      if (!t.connectMs)
        t.connectMs = m.connectMs;
      if (!t.firstByteMs)
        t.firstByteMs = m.firstByteMs;
      if (!t.totalMs)
        t.totalMs = m.totalMs;
    }
  return t;
}

bool iterc::rt::callsModel(const NodeDesc &n) {
  return n.kind == NodeKind::Agent || n.kind == NodeKind::Judge ||
         (n.kind == NodeKind::Router && n.routerMode == RouterMode::Llm) ||
         (n.kind == NodeKind::Human &&
          (n.interaction == Interaction::Llm ||
           n.interaction == Interaction::LlmOrHuman));
}

void iterc::rt::addTerminals(WorkflowDesc &wf) {
  NodeDesc done;
  done.kind = NodeKind::Done;
  done.name = "done";
  NodeDesc fail;
  fail.kind = NodeKind::Fail;
  fail.name = "fail";
  wf.nodes.push_back(done);
  wf.nodes.push_back(fail);
}
