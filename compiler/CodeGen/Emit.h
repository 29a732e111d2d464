//===- Emit.h - Every file iterc emits for one workflow ---------*- C++ -*-===//
//
// This file declares emitWorkflow, which produces the complete set of files
// for a checked module: the C++ sources, CMakeLists.txt, Dockerfile,
// compose.yaml, README.md, services/<name>/Dockerfile for each service whose
// Dockerfile iterc generates, and manifest.json (the iterc version and the
// sha256 of the source and of every other emitted file). The result is a
// function of the source text, its relative path and iterc's version.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_EMIT_H
#define ITERC_CODEGEN_EMIT_H

#include "CodeGen/CppEmitter.h"
#include "CodeGen/EmitContext.h"
#include "IR/Ir.h"

#include <string>
#include <string_view>
#include <vector>

namespace iterc::codegen {

struct EmittedFile {
  std::string path; ///< Relative to the output directory.
  std::string content;
};

/// Lower-case hex SHA-256.
std::string sha256Hex(std::string_view data);

/// The program name for a workflow name: lower case, [a-z0-9_-] only.
std::string programNameFor(const std::string &workflowName);

/// The path recorded in generated files: `path` as given with "./" and
/// duplicate separators removed when relative; the file name alone when
/// absolute (an absolute path would differ between checkouts).
std::string recordedSourcePath(const std::string &path);

EmitContext makeEmitContext(const ir::Module &module,
                            const std::string &sourcePath,
                            std::string_view sourceText);

/// All files, manifest.json last; paths sorted otherwise.
std::vector<EmittedFile> emitWorkflow(const ir::Module &module,
                                      const EmitContext &ctx,
                                      const Skeletons &skeletons);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_EMIT_H
