//===- AppStreams.cpp - appMain over std::ostreams ------------------------===//
//
// This file implements the appMain overload that writes to the std::ostreams
// of an AppIo (what tests and embedders call). It is its own translation
// unit so that a generated executable, which only calls appMain(argc, argv),
// never links <ostream> and the locale machinery behind it.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"

#include "iterc/rt/App.h"

#include <ostream>

using namespace iterc::rt;

int iterc::rt::appMain(const WorkflowDesc &wf, const AppInfo &info,
                       const std::vector<std::string> &args, AppIo io) {
  auto write = [](void *stream, const char *data, size_t size) {
    static_cast<std::ostream *>(stream)->write(data, std::streamsize(size));
  };
  auto flush = [](void *stream) {
    static_cast<std::ostream *>(stream)->flush();
  };
  app::Out out(&io.out, write, flush), err(&io.err, write, flush);
  app::Io streams{out, err, io.progressTty, io.invocation, io.interrupt};
  return app::runApp(wf, info, args, streams);
}
