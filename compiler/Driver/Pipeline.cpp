//===- Pipeline.cpp - Running the front end over files --------------------===//
//
// This file implements the shared front-end pipeline.
//
//===----------------------------------------------------------------------===//
#include "Driver/Pipeline.h"

#include "Frontend/ParseDriver.h"
#include "Sema/Sema.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

using namespace iterc;

const char *iterc::iterVersion() { return ITERC_VERSION; }

std::optional<std::string> iterc::readSourceFile(const std::string &path,
                                                 std::string &error) {
  FILE *f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::string data;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    data.append(buffer, n);
    if (data.size() > (256u << 20)) {
      error = "file is larger than 256 MiB";
      if (f != stdin)
        std::fclose(f);
      return std::nullopt;
    }
  }
  bool failed = std::ferror(f);
  int savedErrno = errno;
  if (f != stdin)
    std::fclose(f);
  if (failed) {
    error = std::strerror(savedErrno);
    return std::nullopt;
  }
  return data;
}

CompiledFile iterc::compileBuffer(const SourceManager &sources,
                                  unsigned fileId, DiagnosticEngine &diags,
                                  bool runSema) {
  CompiledFile result;
  result.fileId = fileId;
  auto t0 = std::chrono::steady_clock::now();
  result.ast = parseFile(sources, fileId, diags);
  auto t1 = std::chrono::steady_clock::now();
  if (result.ast && runSema)
    result.module = analyze(*result.ast, sources, diags);
  auto t2 = std::chrono::steady_clock::now();
  result.times.parse = std::chrono::duration<double>(t1 - t0).count();
  result.times.sema = std::chrono::duration<double>(t2 - t1).count();
  return result;
}
