//===- ProgramMain.cpp - The entry point of a generated executable --------===//
//
// This file implements programMain: load the program's tables into the
// engine's form, then hand the command line to the application layer.
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/App.h"
#include "iterc/rt/Program.h"
#include "iterc/rt/Workflow.h"

using namespace iterc::rt;

int gen::programMain(const ProgramInfo &program, int argc, char **argv) {
  WorkflowDesc wf = loadProgram(program);
  AppInfo info;
  info.programName = program.programName ? program.programName : "workflow";
  info.sourcePath = program.sourcePath ? program.sourcePath : "";
  info.graphMermaid = program.graphMermaid ? program.graphMermaid : "";
  info.graphDot = program.graphDot ? program.graphDot : "";
  return appMain(wf, info, argc, argv);
}
