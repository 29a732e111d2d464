//===- ToolWireNames.h - The names of an agent's tools on the wire -*- C++ -*-===//
//
// Providers accept only [A-Za-z0-9_-] in tool names, so `mcp.server.tool`
// travels as `mcp__server__tool` and is mapped back when the model calls
// it. Two tools whose names differ only there (`x.y` and `x__y`) would
// travel under one name and one of them could never be called: that is
// refused, naming both. Providers also reject requests with more than a
// few hundred tools, so one call offers at most 128 (ITERC_MAX_TOOLS sets
// another limit): more is refused before any call, with the count.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_SRC_TOOLWIRENAMES_H
#define ITERC_RT_SRC_TOOLWIRENAMES_H

#include "iterc/rt/Core.h"
#include "iterc/rt/Llm.h"

#include <map>
#include <string>
#include <vector>

namespace iterc::rt {

/// The tools one model call may offer unless ITERC_MAX_TOOLS says otherwise.
constexpr size_t defaultMaxToolsPerCall = 128;

/// `name` as providers accept it: every character outside [A-Za-z0-9_-]
/// becomes `__`.
std::string toolWireName(const std::string &name);

/// Renames `tools` (of node `node`) to their wire names and returns the map
/// from wire name back to name; an error (ErrorCode::Tool) when two tools
/// share a wire name or when there are more tools than the limit.
Expected<std::map<std::string, std::string>>
assignWireNames(std::vector<ToolSpec> &tools, const std::string &node);

} // namespace iterc::rt

#endif // ITERC_RT_SRC_TOOLWIRENAMES_H
