//===- Pipeline.h - Running the front end over files ------------*- C++ -*-===//
//
// This file declares the driver-side pipeline: read a file, parse it, check
// it. Subcommands share it so that `check`, `fmt`, `graph` and later `emit`
// see exactly the same front end.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_PIPELINE_H
#define ITERC_DRIVER_PIPELINE_H

#include "Basic/Diagnostic.h"
#include "Frontend/Ast.h"
#include "IR/Ir.h"

#include <memory>
#include <optional>
#include <string>

namespace iterc {

/// Reads a source file (or stdin for "-"). Only regular files are read: a
/// FIFO, socket, device or directory is refused at once, never waited on.
/// A file larger than MaxSourceSize is refused. Returns nullopt and sets
/// `error` when the file cannot be read.
std::optional<std::string> readSourceFile(const std::string &path,
                                          std::string &error);

/// Wall time of each front-end phase, for `iterc check --time`.
struct PhaseTimes {
  double parse = 0;
  double sema = 0;
};

struct CompiledFile {
  unsigned fileId = 0;
  std::unique_ptr<ast::File> ast;
  std::unique_ptr<ir::Module> module;
  PhaseTimes times;
};

/// Parses and checks the buffer `fileId`.
CompiledFile compileBuffer(const SourceManager &sources, unsigned fileId,
                           DiagnosticEngine &diags, bool runSema = true);

const char *iterVersion();

} // namespace iterc

#endif // ITERC_DRIVER_PIPELINE_H
