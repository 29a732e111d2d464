//===- ServiceContexts.cpp - The services' part of a build context --------===//
//
// This file implements writeServiceContexts (ServiceContexts.h). Paths are
// resolved through the file system (std::filesystem::canonical), so that a
// symbolic link cannot take a copy outside the workflow's directory, and
// every copied file is read through a path checked to be inside it.
//
//===----------------------------------------------------------------------===//
#include "Driver/ServiceContexts.h"

#include "CodeGen/ServiceImage.h"

#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>

namespace fs = std::filesystem;
using namespace iterc;

namespace {

void warn(const std::string &message) {
  std::fprintf(stderr, "iterc: warning: %s\n", message.c_str());
}

/// True when `path` is `root` or below it (both canonical).
bool isInside(const fs::path &path, const fs::path &root) {
  auto p = path.begin(), r = root.begin();
  for (; r != root.end(); ++r, ++p)
    if (p == path.end() || *p != *r)
      return false;
  return true;
}

bool isUrl(const std::string &context) {
  return context.find("://") != std::string::npos ||
         context.rfind("git@", 0) == 0;
}

/// `context` without "." and empty components, or an error: it must be
/// relative, without "..", and without `${...}` (read at run time only).
bool normaliseContext(const ir::Service &s, std::string &out,
                      std::string &error) {
  const std::string &context = s.buildContext;
  std::string why;
  if (context.find("${") != std::string::npos)
    why = "it uses an environment reference, which only a run resolves";
  else if (context[0] == '/')
    why = "it is absolute";
  out.clear();
  for (const fs::path &part : fs::path(context)) {
    if (!why.empty())
      break;
    if (part == "..")
      why = "it climbs out with '..'";
    else if (!part.empty() && part != ".")
      out += (out.empty() ? "" : "/") + part.string();
  }
  if (why.empty())
    return true;
  error = "service '" + s.name + "': its build context '" + context +
          "' cannot be copied into the container build context: " + why +
          "; iterc copies only what is inside the workflow's directory";
  return false;
}

/// The canonical directory of the context of `s` below `base`, checked to
/// stay inside `base` after symbolic links.
bool resolveContext(const ir::Service &s, const std::string &relative,
                    const fs::path &base, fs::path &out, std::string &error) {
  std::error_code ec;
  out = fs::canonical(base / relative, ec);
  if (ec || !fs::is_directory(out)) {
    error = "service '" + s.name + "': its build context '" + s.buildContext +
            "' is not a directory (relative to " + base.string() + ")";
    return false;
  }
  if (!isInside(out, base)) {
    error = "service '" + s.name + "': its build context '" + s.buildContext +
            "' leads outside the workflow's directory through a symbolic link";
    return false;
  }
  return true;
}

bool copyRegular(const fs::path &from, const fs::path &to, std::string &error) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (!ec)
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    error = "cannot copy '" + from.string() + "' to '" + to.string() +
            "': " + ec.message();
    return false;
  }
  return true;
}

/// Copies the tree `from` (canonical, inside `root`) to `to`, leaving out
/// `skip` (the output directory, when it is inside the context).
bool copyTree(const fs::path &from, const fs::path &to, const fs::path &root,
              const fs::path &skip, std::string &error) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) {
    error = "cannot create '" + to.string() + "': " + ec.message();
    return false;
  }
  for (const fs::directory_entry &e : fs::directory_iterator(from, ec)) {
    const fs::path target = to / e.path().filename();
    fs::file_status st = e.symlink_status(ec);
    if (ec)
      break;
    if (fs::is_symlink(st)) {
      fs::path named = fs::canonical(e.path(), ec);
      if (ec || !isInside(named, root) || !fs::is_regular_file(named)) {
        warn("'" + e.path().string() +
             "' is a symbolic link to something other than a file inside "
             "the build context; it is left out");
        ec.clear();
        continue;
      }
      if (!copyRegular(named, target, error))
        return false;
    } else if (fs::is_directory(st)) {
      if (fs::equivalent(e.path(), skip, ec))
        continue;
      ec.clear();
      if (!copyTree(e.path(), target, root, skip, error))
        return false;
    } else if (fs::is_regular_file(st)) {
      if (!copyRegular(e.path(), target, error))
        return false;
    } else {
      warn("'" + e.path().string() + "' is not a file; it is left out");
    }
  }
  if (ec) {
    error = "cannot read '" + from.string() + "': " + ec.message();
    return false;
  }
  return true;
}

/// The packaged service's program and probe into services/<name>/.
bool writePackaged(const ir::Service &s, const fs::path &context,
                   const fs::path &dir, const std::string &probe,
                   std::string &error) {
  using namespace iterc::codegen;
  const fs::path home = dir / packagedServiceDir(s);
  const fs::path named = context / programInContext(s);
  std::error_code ec;
  fs::path program = fs::canonical(named, ec);
  if (ec || !fs::is_regular_file(program)) {
    warn("service '" + s.name + "': its program '" + named.string() +
         "' does not exist yet; copy it to " +
         (home / packagedProgramPath(s)).string() +
         " before building its image");
  } else if (!isInside(program, context)) {
    error = "service '" + s.name + "': its program '" + s.program +
            "' leads outside its build context through a symbolic link";
    return false;
  } else if (!copyRegular(program, home / packagedProgramPath(s), error)) {
    return false;
  }
  if (usesHealthProbe(s) && !copyRegular(probe, home / kProbeFile, error))
    return false;
  return true;
}

} // namespace

bool driver::writeServiceContexts(
    const ir::Module &m, const std::string &sourcePath, const std::string &dir,
    const std::string &probe, const std::string &program, std::string &error) {
  std::error_code ec;
  fs::path source = sourcePath == "-" ? fs::path() : fs::path(sourcePath);
  fs::path base = fs::canonical(
      source.has_parent_path() ? source.parent_path() : fs::path("."), ec);
  fs::path out;
  if (!ec)
    out = fs::canonical(dir, ec);
  if (ec) {
    error = "cannot resolve '" + dir + "' or the directory of '" + sourcePath +
            "': " + ec.message();
    return false;
  }
  // The names the runner's files take at the top of DIR.
  const std::set<std::string> taken = {
      "services",       "Dockerfile",     "compose.yaml",        "README.md",
      "manifest.json",  "CMakeLists.txt", "ca-certificates.crt", program,
      program + ".cpp", program + ".h"};
  for (const ir::Service &s : m.services) {
    if (s.buildContext.empty() || isUrl(s.buildContext))
      continue;
    std::string relative;
    fs::path context;
    if (!normaliseContext(s, relative, error))
      return false;
    if (s.generatesDockerfile()) {
      // A missing context is a program not built yet (warned about below).
      if (fs::exists(base / relative) &&
          !resolveContext(s, relative, base, context, error))
        return false;
      if (!writePackaged(s, context.empty() ? base / relative : context, out,
                         probe, error))
        return false;
      continue;
    }
    if (!resolveContext(s, relative, base, context, error))
      return false;
    std::string top = relative.substr(0, relative.find('/'));
    if (relative.empty() || taken.count(top)) {
      error = "service '" + s.name + "': its build context '" + s.buildContext +
              "' would be copied over the runner's own files; give it a "
              "directory of its own";
      return false;
    }
    if (!copyTree(context, out / relative, context, out, error))
      return false;
  }
  return true;
}
