//===- ToolWireNames.cpp - The names of an agent's tools on the wire -----===//
//
// This file implements the wire names of an agent's tools and the limit on
// their number per call (see ToolWireNames.h).
//
//===----------------------------------------------------------------------===//
#include "ToolWireNames.h"

#include <cctype>
#include <cstdlib>

using namespace iterc::rt;

namespace {

/// ITERC_MAX_TOOLS when it is a positive number, else the default.
size_t maxToolsPerCall() {
  const char *text = std::getenv("ITERC_MAX_TOOLS");
  if (!text || !*text)
    return defaultMaxToolsPerCall;
  char *end = nullptr;
  unsigned long long n = std::strtoull(text, &end, 10);
  if (*end || n == 0 || text[0] == '-')
    return defaultMaxToolsPerCall;
  return size_t(n);
}

} // namespace

std::string iterc::rt::toolWireName(const std::string &name) {
  std::string wire;
  for (char c : name)
    wire += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
                ? std::string(1, c)
                : std::string("__");
  return wire;
}

Expected<std::map<std::string, std::string>>
iterc::rt::assignWireNames(std::vector<ToolSpec> &tools,
                           const std::string &node) {
  size_t limit = maxToolsPerCall();
  if (tools.size() > limit)
    return Error(ErrorCode::Tool,
                 "'" + node + "' offers the model " +
                     std::to_string(tools.size()) +
                     " tools, more than the limit of " + std::to_string(limit) +
                     " per call (providers reject long tool lists); list "
                     "fewer tools in its 'tools:', or set ITERC_MAX_TOOLS");
  std::map<std::string, std::string> wireToName;
  for (ToolSpec &t : tools) {
    std::string wire = toolWireName(t.name);
    auto [it, added] = wireToName.emplace(wire, t.name);
    if (!added && it->second != t.name)
      return Error(ErrorCode::Tool,
                   "'" + node + "' offers the tools '" + it->second +
                       "' and '" + t.name + "', which providers would both see "
                       "as '" + wire + "', so one of them could never be "
                       "called; rename one of them (or leave one out of "
                       "'tools:')");
    t.name = wire;
  }
  return wireToName;
}
