//===- Core.cpp - Values, errors and results of the runtime ---------------===//
//
// This file implements the error-code names, exception-free JSON parsing
// and SHA-256 in hex.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Core.h"

#include <openssl/evp.h>

#include <stdexcept>

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
  case ErrorCode::Unsupported:
    return "UNSUPPORTED";
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

std::string iterc::rt::sha256Hex(std::string_view data) {
  // Fetched once: SHA256() looks the algorithm up in the provider tables
  // on every call, which costs as much as hashing a request.
  static EVP_MD *const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!md ||
      !EVP_Digest(data.data(), data.size(), digest, &length, md, nullptr))
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned char c :
       std::string_view(reinterpret_cast<const char *>(digest), length)) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}
