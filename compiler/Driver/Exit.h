//===- Exit.h - Exit statuses and error messages of the iterc commands -*- C++
//-*-===//
//
// This file declares what every `iterc` subcommand shares when it stops:
// the exit statuses (0 success, 1 errors in the input, 2 usage or I/O
// error) and the two ways a command reports a problem.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_DRIVER_EXIT_H
#define ITERC_DRIVER_EXIT_H

#include <string>

namespace iterc::driver {

constexpr int ExitOk = 0;
constexpr int ExitErrors = 1;
constexpr int ExitUsage = 2;

/// "iterc: <message>" and where the command's help is; returns ExitUsage.
int usage(const std::string &message, const char *command);
/// "iterc: error: <message>"; returns ExitUsage.
int ioError(const std::string &message);

} // namespace iterc::driver

#endif // ITERC_DRIVER_EXIT_H
