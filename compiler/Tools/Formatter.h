//===- Formatter.h - Canonical form of a .iter file -------------*- C++ -*-===//
//
// This file declares the printer behind `iterc fmt`: it prints an AST in the
// canonical layout (two-space indentation, one blank line between
// declarations, `with` maps one entry per line when they hold more than one
// entry, ...) and puts every comment back where it was. Formatting is
// idempotent and never changes what a file means.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TOOLS_FORMATTER_H
#define ITERC_TOOLS_FORMATTER_H

#include "Basic/SourceManager.h"
#include "Frontend/Ast.h"

#include <string>

namespace iterc {

/// The canonical text of `file`, whose source is buffer `file.fileId`.
std::string formatFile(const ast::File &file, const SourceManager &sources);

} // namespace iterc

#endif // ITERC_TOOLS_FORMATTER_H
