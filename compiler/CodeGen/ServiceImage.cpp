//===- ServiceImage.cpp - The layout of a packaged service's image --------===//
//
// This file implements the facts of ServiceImage.h.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/ServiceImage.h"

#include <cctype>
#include <string_view>

using namespace iterc;
using namespace iterc::codegen;

namespace {

/// The path components of `path` without empty and "." ones.
std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? slash : slash - start);
    if (!part.empty() && part != ".")
      parts.emplace_back(part);
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return parts;
}

} // namespace

std::string codegen::composeKey(const std::string &name) {
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    bool keep =
        (u < 0x80 && std::isalnum(u)) || c == '.' || c == '_' || c == '-';
    out += keep ? c : '_';
  }
  return out.empty() ? std::string("_") : out;
}

std::string codegen::packagedServiceDir(const ir::Service &s) {
  if (!s.generatesDockerfile())
    return std::string();
  return "services/" + composeKey(s.name);
}

std::string codegen::packagedProgramPath(const ir::Service &s) {
  std::vector<std::string> parts = components(s.program);
  return "app/" + (parts.empty() ? std::string("program") : parts.back());
}

std::string codegen::programInContext(const ir::Service &s) {
  std::string out;
  for (const std::string &part : components(s.program))
    out += (out.empty() ? "" : "/") + part;
  return out;
}

bool codegen::usesHealthProbe(const ir::Service &s) {
  return s.generatesDockerfile() && s.health && !s.health->http.empty();
}

std::vector<std::string> codegen::probeHealthTest(const ir::Service &s) {
  std::string port = "80";
  if (!s.ports.empty()) {
    const std::string &first = s.ports.front();
    size_t colon = first.rfind(':');
    port = colon == std::string::npos ? first : first.substr(colon + 1);
  }
  std::string path = s.health ? s.health->http : std::string("/");
  // The probe takes 1 ms to 10 minutes; compose's own timeout still applies.
  int64_t timeout = s.health ? s.health->timeoutMs : 5000;
  timeout = timeout < 1 ? 1 : timeout > 600000 ? 600000 : timeout;
  return {"CMD", kProbeImagePath, "__probe", "http://127.0.0.1:" + port + path,
          std::to_string(timeout)};
}
