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
#include <string_view>
#include <vector>

namespace iterc::driver {

constexpr int ExitOk = 0;
constexpr int ExitErrors = 1;
constexpr int ExitUsage = 2;

/// "iterc: <message>" and where the command's help is; returns ExitUsage.
int usage(const std::string &message, const char *command);
/// "iterc: error: <message>"; returns ExitUsage.
int ioError(const std::string &message);

/// "; did you mean 'X'?" for the entry of `known` closest to `word`, or ""
/// when none is close enough to be a likely typo.
std::string didYouMean(std::string_view word,
                       const std::vector<std::string_view> &known);
/// "unknown option 'ARG'" and, when one is close, the option meant.
std::string unknownOption(const std::string &arg,
                          const std::vector<std::string_view> &options);

} // namespace iterc::driver

#endif // ITERC_DRIVER_EXIT_H
