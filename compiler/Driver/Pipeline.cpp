//===- Pipeline.cpp - Running the front end over files --------------------===//
//
// This file implements the shared front-end pipeline.
//
//===----------------------------------------------------------------------===//
#include "Driver/Pipeline.h"

#include "FileText.h"

#include "Frontend/ParseDriver.h"
#include "Sema/Sema.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc;

const char *iterc::iterVersion() { return ITERC_VERSION; }

std::optional<std::string> iterc::readSourceFile(const std::string &path,
                                                 std::string &error) {
  return rt::readBoundedFile(path, MaxSourceSize, error, "a source file");
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
