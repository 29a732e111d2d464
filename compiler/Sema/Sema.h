//===- Sema.h - Semantic analysis: AST to checked IR ------------*- C++ -*-===//
//
// This file declares semantic analysis. It resolves every name, types every
// schema field and variable, parses templates and expressions, computes the
// workflow graph's facts and runs every check of the language, reporting all
// errors of the file in one pass.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_SEMA_SEMA_H
#define ITERC_SEMA_SEMA_H

#include "Basic/Diagnostic.h"
#include "Frontend/Ast.h"
#include "IR/Ir.h"

#include <memory>

namespace iterc {

/// Checks `file` and lowers it to IR. Returns the IR even when errors were
/// reported (tools such as `graph` can still show it); returns null only
/// when the file declares no workflow.
std::unique_ptr<ir::Module> analyze(const ast::File &file,
                                    const SourceManager &sources,
                                    DiagnosticEngine &diags);

} // namespace iterc

#endif // ITERC_SEMA_SEMA_H
