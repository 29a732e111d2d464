//===- ParseDriver.h - From source text to AST ------------------*- C++ -*-===//
//
// This file declares the entry point of the front end. It runs the ANTLR
// lexer and parser over one buffer and transforms the parse tree into the AST
// (Ast.h). It is the only interface through which the rest of iterc sees the
// parser: no ANTLR type appears in it, and no ANTLR exception escapes it.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_FRONTEND_PARSEDRIVER_H
#define ITERC_FRONTEND_PARSEDRIVER_H

#include "Basic/Diagnostic.h"
#include "Frontend/Ast.h"

#include <memory>

namespace iterc {

/// Largest source file accepted, in bytes.
constexpr size_t MaxSourceSize = 64u << 20;

/// Parses the buffer `fileId` of `sources`. Syntax errors are reported to
/// `diags` and recovered from; the AST holds every declaration that could be
/// built. Returns null only when the file cannot be lexed at all (not UTF-8,
/// too large).
std::unique_ptr<ast::File> parseFile(const SourceManager &sources,
                                     unsigned fileId, DiagnosticEngine &diags);

} // namespace iterc

#endif // ITERC_FRONTEND_PARSEDRIVER_H
