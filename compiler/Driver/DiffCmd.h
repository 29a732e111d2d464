//===- DiffCmd.h - iterc diff -----------------------------------*- C++ -*-===//
//
// This file declares `iterc diff OLD NEW`: the semantic changes between two
// workflows, then the unified diff of every generated file that changed
// (Tools/Diff.h computes and renders; CodeGen/DiffInput.h reads the sides).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_DIFFCMD_H
#define ITERC_DRIVER_DIFFCMD_H

namespace iterc {

/// Exit status: 0 identical, 1 different, 2 usage error, unreadable input
/// or errors in an input.
int runDiff(int argc, char **argv);

extern const char *diffHelp;

} // namespace iterc

#endif // ITERC_DRIVER_DIFFCMD_H
