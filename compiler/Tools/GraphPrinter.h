//===- GraphPrinter.h - Mermaid and DOT renderings of a workflow -*- C++ -*-===//
//
// This file declares the renderers behind `iterc graph`: nodes drawn by kind,
// edges labelled with their conditions, loop edges dashed with the loop's
// name and cap, convergence points marked with their await strategy.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TOOLS_GRAPHPRINTER_H
#define ITERC_TOOLS_GRAPHPRINTER_H

#include "IR/Ir.h"

#include <string>

namespace iterc {

enum class GraphFormat { Mermaid, Dot };

std::string printGraph(const ir::Module &module, GraphFormat format);

} // namespace iterc

#endif // ITERC_TOOLS_GRAPHPRINTER_H
