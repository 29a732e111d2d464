//===- Build.h - iterc emit, build and run ----------------------*- C++ -*-===//
//
// This file declares the subcommands that turn a workflow into artifacts:
// `emit` (generated files only), `build` (one static executable, through a
// content-addressed cache) and `run` (build, then execute).
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_BUILD_H
#define ITERC_DRIVER_BUILD_H

namespace iterc {

int runEmit(int argc, char **argv);
int runBuild(int argc, char **argv);
int runRun(int argc, char **argv);

extern const char *emitHelp;
extern const char *buildHelp;
extern const char *runHelp;

} // namespace iterc

#endif // ITERC_DRIVER_BUILD_H
