//===- CppEmitter.h - IR to C++ for runtime-lib -----------------*- C++ -*-===//
//
// This file declares the C++ emitter. For one checked module it produces:
//
//   <program>.h    a C++ type per schema (enums included) with decode/encode
//                  functions, and program(), the workflow's tables;
//   <program>.cpp  the tables (schemas, pre-split templates, nodes, edges,
//                  loops, vars, presets, budget) as constant data, every
//                  `when`, compute and verify expression as a C++ function,
//                  and main(), which hands the tables to runtime-lib.
//
// Nothing of the .iter source is parsed when the executable runs.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_CODEGEN_CPPEMITTER_H
#define ITERC_CODEGEN_CPPEMITTER_H

#include "CodeGen/EmitContext.h"
#include "IR/Ir.h"

#include <string>

namespace iterc::codegen {

/// Whole-file skeletons (templates/*.mustache), already loaded.
struct Skeletons {
  std::string workflowH;
  std::string workflowCpp;
  std::string cmakeLists;
};

struct CppFiles {
  std::string header;
  std::string source;
};

/// The C++ namespace of a program's generated code (a valid identifier).
std::string cppNamespace(const std::string &programName);

CppFiles emitCpp(const ir::Module &module, const EmitContext &ctx,
                 const Skeletons &skeletons);

/// The CMakeLists.txt that builds the generated sources against an
/// installed runtime-lib.
std::string emitCMakeLists(const EmitContext &ctx, const Skeletons &skeletons);

/// Renders a mustache skeleton with identity escaping; aborts (a bug in
/// iterc or a broken installation) when the skeleton does not parse.
std::string
renderSkeleton(const std::string &skeleton,
               const std::vector<std::pair<std::string, std::string>> &vars);

} // namespace iterc::codegen

#endif // ITERC_CODEGEN_CPPEMITTER_H
