//===- WorkdirPath.cpp - Checking a tool's workdir ------------------------===//
#include "Sema/WorkdirPath.h"

std::string iterc::sema::workdirProblem(std::string_view workdir,
                                        std::string &confined) {
  std::string problem;
  if (!workdir.empty() && workdir.front() == '/')
    problem = "it is absolute; name a directory relative to the workspace";
  confined.clear();
  size_t start = 0;
  while (start <= workdir.size()) {
    size_t slash = workdir.find('/', start);
    if (slash == std::string_view::npos)
      slash = workdir.size();
    std::string_view part = workdir.substr(start, slash - start);
    start = slash + 1;
    if (part == ".." && problem.empty())
      problem = "it leaves the workspace with '..'";
    if (part.empty() || part == "." || part == "..")
      continue;
    confined += (confined.empty() ? "" : "/") + std::string(part);
  }
  if (confined.empty())
    confined = ".";
  return problem;
}
