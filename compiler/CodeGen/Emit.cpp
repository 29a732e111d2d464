//===- Emit.cpp - Every file iterc emits for one workflow -----------------===//
//
// This file implements emitWorkflow and the facts it records: program name,
// recorded source path, hashes and the manifest.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/Emit.h"

#include "CodeGen/StackEmitter.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

using namespace iterc;
using namespace iterc::codegen;

std::string codegen::sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string codegen::programNameFor(const std::string &workflowName) {
  std::string out;
  for (char c : workflowName) {
    unsigned char u = static_cast<unsigned char>(c);
    out +=
        (std::isalnum(u) || c == '_' || c == '-') ? char(std::tolower(u)) : '_';
  }
  return out.empty() ? "workflow" : out;
}

std::string codegen::recordedSourcePath(const std::string &path) {
  if (path.empty() || path == "-")
    return "<stdin>";
  if (path[0] == '/') {
    size_t slash = path.find_last_of('/');
    return path.substr(slash + 1);
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty() && part != ".")
      parts.push_back(part);
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  std::string out;
  for (const std::string &part : parts)
    out += (out.empty() ? "" : "/") + part;
  return out;
}

EmitContext codegen::makeEmitContext(const ir::Module &module,
                                     const std::string &sourcePath,
                                     std::string_view sourceText) {
  EmitContext ctx;
  ctx.programName = programNameFor(module.workflow.name);
  ctx.sourcePath = recordedSourcePath(sourcePath);
  ctx.sourceSha256 = sha256Hex(sourceText);
  ctx.itercVersion = ITERC_VERSION;
  return ctx;
}

std::vector<EmittedFile> codegen::emitWorkflow(const ir::Module &module,
                                               const EmitContext &ctx,
                                               const Skeletons &skeletons) {
  CppFiles cpp = emitCpp(module, ctx, skeletons);
  std::vector<EmittedFile> files = {
      {"CMakeLists.txt", emitCMakeLists(ctx, skeletons)},
      {"Dockerfile", emitDockerfile(module, ctx)},
      {"README.md", emitReadme(module, ctx)},
      {"compose.yaml", emitCompose(module, ctx)},
      {ctx.programName + ".cpp", std::move(cpp.source)},
      {ctx.programName + ".h", std::move(cpp.header)},
  };
  // The Dockerfiles iterc generates for services that package a program.
  for (const ir::Service &s : module.services)
    if (s.generatesDockerfile())
      files.push_back(
          {serviceDockerfilePath(s), emitServiceDockerfile(s, ctx)});
  std::sort(files.begin(), files.end(),
            [](const EmittedFile &a, const EmittedFile &b) {
              return a.path < b.path;
            });

  nlohmann::ordered_json manifest;
  manifest["generator"] = "iterc";
  manifest["iterc_version"] = ctx.itercVersion;
  manifest["workflow"] = module.workflow.name;
  manifest["program"] = ctx.programName;
  manifest["source"] = {{"path", ctx.sourcePath}, {"sha256", ctx.sourceSha256}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const EmittedFile &f : files)
    list.push_back({{"path", f.path},
                    {"sha256", sha256Hex(f.content)},
                    {"bytes", f.content.size()}});
  manifest["files"] = list;
  files.push_back({"manifest.json", manifest.dump(2) + "\n"});
  return files;
}
