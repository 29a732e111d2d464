//===- ServiceContexts.h - The services' part of a build context -*- C++
//-*-===//
//
// This file declares what `iterc build --context DIR` adds to DIR for the
// services compose builds, so that `docker compose build` (and `config`)
// work from DIR alone.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_SERVICECONTEXTS_H
#define ITERC_DRIVER_SERVICECONTEXTS_H

#include "IR/Ir.h"

#include <string>

namespace iterc::driver {

/// For each `build` service of `m`, with build contexts taken relative to
/// the directory of `sourcePath`:
/// - a packaged service (`program`, no `dockerfile`): its program is copied
///   to DIR/services/<name>/app/, and, when it has an HTTP health check, the
///   workflow's executable `probe` to DIR/services/<name>/iterc-probe
///   (CodeGen/ServiceImage.h); a program that does not exist yet is a
///   warning (a workflow may build it);
/// - a service with its own `dockerfile`: its build context is copied to the
///   same relative path in DIR.
/// Only files inside the workflow's directory are copied: a context that is
/// absolute, climbs out with `..` or through a symbolic link, or uses a
/// `${NAME}` reference is an error; a symbolic link inside a copied context
/// is copied as the file it names when that file is inside the context, and
/// left out with a warning otherwise. Contexts given as URLs are left to
/// compose. Returns false with `error` set on failure.
bool writeServiceContexts(const ir::Module &m, const std::string &sourcePath,
                          const std::string &dir, const std::string &probe,
                          const std::string &program, std::string &error);

} // namespace iterc::driver

#endif // ITERC_DRIVER_SERVICECONTEXTS_H
