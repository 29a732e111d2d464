//===- Core.cpp - Values, errors and results of the runtime ---------------===//
//
// This file implements the error-code names and exception-free JSON
// parsing.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Core.h"

using namespace iterc::rt;

const char *iterc::rt::errorCodeName(ErrorCode code) {
  switch (code) {
  case ErrorCode::Internal:
    return "INTERNAL";
  case ErrorCode::InvalidInput:
    return "INVALID_INPUT";
  case ErrorCode::Http:
    return "HTTP_ERROR";
  case ErrorCode::HttpStatus:
    return "HTTP_STATUS";
  case ErrorCode::Timeout:
    return "TIMEOUT";
  case ErrorCode::Provider:
    return "PROVIDER_ERROR";
  case ErrorCode::SchemaInvalid:
    return "SCHEMA_INVALID";
  case ErrorCode::ReplayMiss:
    return "REPLAY_MISS";
  case ErrorCode::Tool:
    return "TOOL_FAILED";
  case ErrorCode::ToolTimeout:
    return "TOOL_TIMEOUT";
  case ErrorCode::NotApproved:
    return "NOT_APPROVED";
  case ErrorCode::Budget:
    return "BUDGET_EXCEEDED";
  case ErrorCode::LoopExhausted:
    return "LOOP_EXHAUSTED";
  case ErrorCode::NoProgress:
    return "NO_PROGRESS";
  case ErrorCode::NoOutgoingEdge:
    return "NO_OUTGOING_EDGE";
  case ErrorCode::WorkspaceEscape:
    return "WORKSPACE_ESCAPE";
  case ErrorCode::Store:
    return "STORE_ERROR";
  case ErrorCode::Cancelled:
    return "CANCELLED";
  case ErrorCode::FailNode:
    return "EXECUTION_FAILED";
  }
  return "INTERNAL";
}

std::optional<Json> iterc::rt::parseJson(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded())
    return std::nullopt;
  return j;
}
