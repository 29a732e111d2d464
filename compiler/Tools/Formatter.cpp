//===- Formatter.cpp - Canonical form of a .iter file ---------------------===//
//
// Placeholder: returns the source unchanged until the canonical printer
// lands.
//
//===----------------------------------------------------------------------===//
#include "Tools/Formatter.h"

using namespace iterc;

std::string iterc::formatFile(const ast::File &file,
                              const SourceManager &sources) {
  return std::string(sources.getText(file.fileId));
}
