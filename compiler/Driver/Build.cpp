//===- Build.cpp - iterc emit, build and run ------------------------------===//
//
// This file implements `iterc emit`, `iterc build` and `iterc run`.
//
// Where things are. iterc finds the runtime (headers, libiterc_rt.a) and the
// templates relative to its own executable: installed, they are in
// <prefix>/include, <prefix>/lib and <prefix>/share/iterc/templates; in a
// build tree, `iterc-layout.txt` next to the executable names them.
//
// The cache. `build` keys every build by the sha256 of everything that can
// change its result: the source text and recorded path, iterc's version,
// the runtime library and header, the templates, the compiler and the
// flags. A hit copies the cached executable; a miss emits into a fresh
// directory, compiles there and renames it into place, so concurrent builds
// never see half an entry.
//
//===----------------------------------------------------------------------===//
#include "Driver/Build.h"

#include "Basic/DiagnosticRenderer.h"
#include "CodeGen/Emit.h"
#include "Driver/BuildCache.h"
#include "Driver/BundleCmd.h"
#include "Driver/Exit.h"
#include "Driver/Pipeline.h"
#include "Driver/ServiceContexts.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace iterc;
using namespace iterc::codegen;
using namespace iterc::driver;

int iterc::driver::usage(const std::string &message, const char *command) {
  std::fprintf(stderr, "iterc: %s\nrun 'iterc %s --help' for usage\n",
               message.c_str(), command);
  return ExitUsage;
}

int iterc::driver::ioError(const std::string &message) {
  std::fprintf(stderr, "iterc: error: %s\n", message.c_str());
  return ExitUsage;
}

const char *iterc::emitHelp =
    "usage: iterc emit FILE -o DIR\n"
    "\n"
    "Checks FILE and writes the generated files for its workflow into DIR\n"
    "(created if needed): <program>.cpp and <program>.h, CMakeLists.txt "
    "(builds\n"
    "them against an installed iterc runtime), Dockerfile, compose.yaml,\n"
    "README.md and manifest.json (sha256 of the source and of every file).\n"
    "The files depend only on the source text, its path as given (relative)\n"
    "and iterc's version: emitting twice gives the same bytes.\n"
    "\n"
    "  -o, --output DIR   the output directory (required)\n"
    "\n"
    "exit status: 0 written, 1 the workflow has errors, 2 usage or I/O error\n";

const char *iterc::buildHelp =
    "usage: iterc build FILE [-o BIN] [--context DIR] [--no-cache] "
    "[--verbose]\n"
    "\n"
    "Checks FILE, generates C++ for its workflow and compiles it with the\n"
    "system C++ compiler against iterc's runtime into one fully static,\n"
    "stripped executable. Builds are cached by content: an unchanged input\n"
    "is not compiled again. The same input gives a byte-identical binary.\n"
    "\n"
    "  -o, --output BIN   where to write the executable (default: "
    "./<program>,\n"
    "                     the workflow name in lower case)\n"
    "  --context DIR      also write a container build context into DIR: the\n"
    "                     generated files (Dockerfile, compose.yaml, sources,\n"
    "                     manifest), the executable and a CA bundle (from\n"
    "                     $SSL_CERT_FILE or "
    "/etc/ssl/certs/ca-certificates.crt),\n"
    "                     ready for 'docker build DIR' or 'podman build DIR';\n"
    "                     with what compose needs to build the services:\n"
    "                     each 'build' context inside the workflow's\n"
    "                     directory, and for a packaged 'program' its file\n"
    "                     and the health probe in services/<name>/\n"
    "  --verbose          print the compiler command and the cache entry\n"
    "  --no-cache         build even when the cache holds the result\n"
    "\n"
    "FILE may be a bundle from 'iterc bundle' (named *.bundle or *.bundle.md,\n"
    "or starting like one): it is verified, its source is built under its\n"
    "recorded path (the same binary as building that source) and its\n"
    "generated files must be those this iterc generates; a bundle made by\n"
    "another iterc version is built from its source, with a note.\n"
    "\n"
    "environment:\n"
    "  CXX               the C++ compiler (default: c++)\n"
    "  ITERC_CACHE_DIR   the build cache (default: $XDG_CACHE_HOME/iterc or\n"
    "                    ~/.cache/iterc)\n"
    "\n"
    "exit status: 0 built, 1 the workflow has errors or the compiler failed,\n"
    "2 usage or I/O error\n";

const char *iterc::runHelp =
    "usage: iterc run FILE [-- ARGS...]\n"
    "\n"
    "Builds FILE like 'iterc build' (cached) and runs the executable with\n"
    "ARGS (default: 'run'). Everything after '--' goes to the executable, "
    "e.g.\n"
    "\n"
    "  iterc run review.iter -- run --var pr=42 --cassette "
    "review.cassette.json\n"
    "\n"
    "FILE may be a bundle from 'iterc bundle', checked as 'iterc build'\n"
    "checks it.\n"
    "The exit status is the executable's (see '<program> --help').\n";

namespace {

std::string dirName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool fileExists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

bool makeDirs(const std::string &path) {
  if (path.empty() || fileExists(path))
    return true;
  if (!makeDirs(dirName(path)))
    return false;
  return ::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
}

/// Writes `content` to `path` through a temporary file and a rename.
bool writeFileAtomic(const std::string &path, const std::string &content,
                     mode_t mode = 0644) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0)
    return false;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += size_t(n);
  }
  ::fchmod(fd, mode);
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::string selfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return ".";
  buf[n] = '\0';
  return dirName(buf);
}

/// Where the runtime and the templates are.
struct Layout {
  std::string include;    ///< Contains iterc/rt/Program.h.
  std::string library;    ///< libiterc_rt.a
  std::string templates;  ///< *.mustache
  std::string linkScript; ///< iterc_rt.ld, beside the library when installed
};

std::optional<Layout> findLayout(std::string &error) {
  std::string self = selfDir();
  Layout installed{self + "/../include", self + "/../lib/libiterc_rt.a",
                   self + "/../share/iterc/templates",
                   self + "/../lib/iterc_rt.ld"};
  if (fileExists(installed.include + "/iterc/rt/Program.h") &&
      fileExists(installed.library) && fileExists(installed.linkScript) &&
      fileExists(installed.templates + "/workflow.cpp.mustache"))
    return installed;
  std::string text;
  if (readFile(self + "/iterc-layout.txt", text)) {
    Layout tree;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      size_t eq = line.find('=');
      if (eq == std::string::npos)
        continue;
      std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (key == "include")
        tree.include = value;
      else if (key == "library")
        tree.library = value;
      else if (key == "templates")
        tree.templates = value;
      else if (key == "linkscript")
        tree.linkScript = value;
    }
    if (!fileExists(tree.library)) {
      error = "the runtime library '" + tree.library +
              "' is not built yet (build the iterc_rt target)";
      return std::nullopt;
    }
    if (!fileExists(tree.linkScript)) {
      error = "the runtime's link script '" + tree.linkScript +
              "' is missing (named in " + self + "/iterc-layout.txt)";
      return std::nullopt;
    }
    return tree;
  }
  error = "cannot find iterc's runtime next to " + self +
          " (expected ../include/iterc/rt/Program.h, ../lib/libiterc_rt.a, "
          "../lib/iterc_rt.ld and ../share/iterc/templates); is iterc "
          "installed completely?";
  return std::nullopt;
}

std::optional<Skeletons> loadSkeletons(const Layout &layout,
                                       std::string &error) {
  Skeletons s;
  const std::pair<const char *, std::string *> files[] = {
      {"workflow.h.mustache", &s.workflowH},
      {"workflow.cpp.mustache", &s.workflowCpp},
      {"CMakeLists.txt.mustache", &s.cmakeLists}};
  for (const auto &[name, out] : files)
    if (!readFile(layout.templates + "/" + name, *out)) {
      error = "cannot read template " + layout.templates + "/" + name;
      return std::nullopt;
    }
  return s;
}

/// A checked workflow and everything emitted for it.
struct Emitted {
  EmitContext ctx;
  std::vector<EmittedFile> files;
  std::string sourceText;
  std::string diagnostics; ///< Warnings as text, without colour.
};

/// Reads, checks and emits; prints diagnostics. Returns an exit code on
/// failure.
std::optional<Emitted> checkAndEmit(const std::string &path,
                                    const Skeletons &skeletons, int &status,
                                    const std::string *preloaded = nullptr) {
  std::string error;
  std::optional<std::string> text = preloaded
                                        ? std::optional<std::string>(*preloaded)
                                        : readSourceFile(path, error);
  if (!text) {
    std::fprintf(stderr, "iterc: cannot read '%s': %s\n", path.c_str(),
                 error.c_str());
    status = ExitUsage;
    return std::nullopt;
  }
  SourceManager sources;
  DiagnosticEngine diags(sources);
  unsigned id = sources.addBuffer(path == "-" ? "<stdin>" : path, *text);
  CompiledFile compiled = compileBuffer(sources, id, diags);
  std::string plain;
  if (diags.getNumErrors() || diags.getNumWarnings()) {
    RenderOptions render;
    render.toolVersion = iterVersion();
    render.color = false;
    render.maxDiagnostics = DefaultDiagnosticLimit;
    plain = renderDiagnostics(sources, diags.getSortedDiagnostics(),
                              DiagnosticFormat::Text, render);
    render.color = isatty(STDERR_FILENO);
    std::fputs(render.color
                   ? renderDiagnostics(sources, diags.getSortedDiagnostics(),
                                       DiagnosticFormat::Text, render)
                         .c_str()
                   : plain.c_str(),
               stderr);
  }
  if (diags.hasErrors() || !compiled.module) {
    std::fprintf(stderr, "iterc: '%s' has errors; nothing generated\n",
                 path.c_str());
    status = ExitErrors;
    return std::nullopt;
  }
  Emitted out;
  out.ctx = makeEmitContext(*compiled.module, path, *text);
  out.files = emitWorkflow(*compiled.module, out.ctx, skeletons);
  out.sourceText = std::move(*text);
  out.diagnostics = std::move(plain);
  return out;
}

bool writeAll(const std::string &dir, const std::vector<EmittedFile> &files,
              std::string &error) {
  if (!makeDirs(dir)) {
    error = "cannot create directory '" + dir + "': " + std::strerror(errno);
    return false;
  }
  for (const EmittedFile &f : files)
    if (!makeDirs(dirName(dir + "/" + f.path)) ||
        !writeFileAtomic(dir + "/" + f.path, f.content)) {
      error =
          "cannot write '" + dir + "/" + f.path + "': " + std::strerror(errno);
      return false;
    }
  return true;
}

struct Args {
  std::string file;
  std::string output;
  std::string context;
  bool verbose = false;
  bool noCache = false;
  std::vector<std::string> rest; ///< After "--" (run).
  /// Set when building a bundle: the bundled source, which stands for
  /// `file` (then its recorded path).
  std::optional<std::string> sourceText;
};

/// Parses FILE [-o X] [--verbose] [--no-cache] [-- ...]. Returns an exit
/// code when parsing ends the command (help or error).
std::optional<int> parseArgs(int argc, char **argv, const char *command,
                             const char *help, bool allowRest, Args &args) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(help, stdout);
      return ExitOk;
    }
    if (arg == "--" && allowRest) {
      args.rest.assign(argv + i + 1, argv + argc);
      break;
    }
    if ((arg == "-o" || arg == "--output") && std::strcmp(command, "run")) {
      if (i + 1 >= argc)
        return usage(arg + " needs a value", command);
      args.output = argv[++i];
    } else if (arg.rfind("--output=", 0) == 0 && std::strcmp(command, "run")) {
      args.output = arg.substr(9);
    } else if (arg == "--context" && !std::strcmp(command, "build")) {
      if (i + 1 >= argc)
        return usage(arg + " needs a value", command);
      args.context = argv[++i];
    } else if (arg == "--verbose" && std::strcmp(command, "emit")) {
      args.verbose = true;
    } else if (arg == "--no-cache" && std::strcmp(command, "emit")) {
      args.noCache = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::vector<std::string_view> known = {"--help"};
      if (std::strcmp(command, "run"))
        known.insert(known.end(), {"--output"});
      if (!std::strcmp(command, "build"))
        known.push_back("--context");
      if (std::strcmp(command, "emit"))
        known.insert(known.end(), {"--verbose", "--no-cache"});
      return usage(unknownOption(arg, known), command);
    } else if (args.file.empty()) {
      args.file = arg;
    } else {
      return usage("one workflow file at a time ('" + args.file + "' and '" +
                       arg + "')",
                   command);
    }
  }
  if (args.file.empty())
    return usage("no input file", command);
  return std::nullopt;
}

std::string cacheRoot() {
  if (const char *dir = std::getenv("ITERC_CACHE_DIR"); dir && *dir)
    return dir;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/iterc";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/iterc";
  return "/tmp/iterc-cache-" + std::to_string(::getuid());
}

/// Identity of a file for the cache key: path, size and modification time
/// (hashing a 10 MB library on every build would cost more than the check).
std::string fileIdentity(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return path + ":missing";
  return path + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

/// The compiler: $CXX or c++, resolved on the PATH.
std::string findCompiler() {
  const char *cxx = std::getenv("CXX");
  std::string name = cxx && *cxx ? cxx : "c++";
  if (name.find('/') != std::string::npos)
    return name;
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(
        start, colon == std::string::npos ? std::string::npos : colon - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string::npos)
      break;
    start = colon + 1;
  }
  return name;
}

/// Runs a program and waits. Its stdout and stderr go to `log` when given
/// (relative to `cwd`), else they are inherited.
int runProcess(const std::vector<std::string> &argv, const std::string &cwd,
               const std::string &log = "") {
  pid_t pid = ::fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0)
      ::_exit(127);
    if (!log.empty()) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
    }
    std::vector<char *> args;
    for (const std::string &a : argv)
      args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "iterc: cannot run '%s': %s\n", args[0],
                 std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/// The flags every generated program is compiled and linked with. Paths of
/// this machine are mapped away so that the binary does not depend on them.
std::vector<std::string> compileCommand(const std::string &compiler,
                                        const Layout &layout,
                                        const std::string &dir,
                                        const std::string &program) {
  return {compiler,
          "-std=c++20",
          "-O1",
          "-g0",
          "-fno-ident",
          "-ffile-prefix-map=" + dir + "=.",
          "-ffile-prefix-map=" + layout.include + "=include",
          "-I" + layout.include,
          "-static",
          "-s",
          "-Wl,--gc-sections",
          "-Wl,--build-id=none",
          "-Wl,-T," + layout.linkScript,
          "-o",
          program,
          program + ".cpp",
          layout.library,
          "-lssl",
          "-lcrypto",
          "-pthread"};
}

/// Copies an open executable (from its start) through a temporary file and
/// a rename, with the kernel's copy_file_range (no round trip of 7 MB
/// through user space). `in` stays open.
bool copyFile(int in, const std::string &to, std::string &error) {
  struct stat st;
  if (::fstat(in, &st) != 0 || ::lseek(in, 0, SEEK_SET) != 0) {
    error = std::string("cannot read the executable: ") + std::strerror(errno);
    return false;
  }
  std::string tmp = to + ".tmp." + std::to_string(::getpid());
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (out < 0) {
    error = "cannot write '" + to + "': " + std::strerror(errno);
    return false;
  }
  off_t left = st.st_size;
  bool ok = true;
  while (left > 0) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size_t(left), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      // Not supported between these file systems: plain reads and writes.
      char buf[1 << 16];
      ssize_t r;
      while ((r = ::read(in, buf, sizeof buf)) > 0)
        if (::write(out, buf, size_t(r)) != r) {
          ok = false;
          break;
        }
      ok = ok && r == 0;
      break;
    }
    left -= n;
  }
  ::fchmod(out, 0755);
  if (::close(out) != 0 || !ok || ::rename(tmp.c_str(), to.c_str()) != 0) {
    error = "cannot write '" + to + "': " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

void removeTree(const std::string &dir) { runProcess({"rm", "-rf", dir}, ""); }

/// The templates' identities, for the cache key.
std::string templateIdentity(const Layout &layout) {
  std::string out;
  for (const char *name : {"workflow.h.mustache", "workflow.cpp.mustache",
                           "CMakeLists.txt.mustache"})
    out += fileIdentity(layout.templates + "/" + name) + "\n";
  return out;
}

/// Builds through the cache; sets `binary` to the cached executable and
/// `binaryFd` to a descriptor of it whose content matched the checksum the
/// entry recorded (the caller closes it).
///
/// The key covers everything the result depends on: the source text and
/// its recorded path, this iterc executable (and so its code generators),
/// the templates, the runtime's library and headers, the compiler and the
/// flags. A hit therefore needs no parsing at all: it replays the warnings
/// the first build printed and reuses the executable.
int buildCached(const Args &args, std::string &binary, std::string &program,
                int &binaryFd) {
  std::string error;
  std::optional<Layout> layout = findLayout(error);
  if (!layout)
    return ioError(error);
  std::optional<std::string> text =
      args.sourceText ? args.sourceText : readSourceFile(args.file, error);
  if (!text) {
    std::fprintf(stderr, "iterc: cannot read '%s': %s\n", args.file.c_str(),
                 error.c_str());
    return ExitUsage;
  }
  std::string compiler = findCompiler();
  std::string keyText = "iterc " ITERC_VERSION "\n";
  keyText += fileIdentity("/proc/self/exe") + "\n";
  {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    keyText += fileIdentity(n > 0 ? std::string(self, size_t(n)) : "") + "\n";
  }
  keyText += recordedSourcePath(args.file) + "\n" + sha256Hex(*text) + "\n";
  keyText += templateIdentity(*layout);
  keyText += fileIdentity(layout->library) + "\n";
  keyText += fileIdentity(layout->linkScript) + "\n";
  for (const char *header : {"Program.h", "Enums.h"})
    keyText += fileIdentity(layout->include + "/iterc/rt/" + header) + "\n";
  keyText += fileIdentity(compiler) + "\n";
  for (const std::string &c : compileCommand(compiler, *layout, "<dir>", "<p>"))
    keyText += c + " ";
  std::string key = sha256Hex(keyText);

  std::string root = cacheRoot();
  if (!buildcache::prepareRoot(root, error))
    return ioError(error);
  std::string shard = root + "/" + key.substr(0, 2);
  std::string entry = shard + "/" + key;
  std::string programFile;
  if (!args.noCache && readFile(entry + "/program.txt", programFile) &&
      !programFile.empty() && programFile.find('/') == std::string::npos &&
      fileExists(entry + "/" + programFile)) {
    std::string why;
    binaryFd = buildcache::openVerified(entry, programFile, why);
    if (binaryFd < 0) {
      // Never copy or run it: build the entry again.
      std::fprintf(stderr, "iterc: warning: %s; building it again\n",
                   why.c_str());
      removeTree(entry);
    }
  }
  if (binaryFd >= 0) {
    program = programFile;
    binary = entry + "/" + program;
    std::string warnings;
    if (readFile(entry + "/diagnostics.txt", warnings))
      std::fputs(warnings.c_str(), stderr);
    if (args.verbose)
      std::fprintf(stderr, "iterc: cache hit %s\n", entry.c_str());
    return ExitOk;
  }

  std::optional<Skeletons> skeletons = loadSkeletons(*layout, error);
  if (!skeletons)
    return ioError(error);
  int status = ExitOk;
  std::optional<Emitted> emitted =
      checkAndEmit(args.file, *skeletons, status,
                   args.sourceText ? &*args.sourceText : nullptr);
  if (!emitted)
    return status;
  program = emitted->ctx.programName;
  binary = entry + "/" + program;

  std::string work = entry + ".tmp." + std::to_string(::getpid());
  removeTree(work);
  if (!buildcache::makePrivateDir(shard) || !buildcache::makePrivateDir(work))
    return ioError("cannot create directory '" + work +
                   "': " + std::strerror(errno) + " (cache directory " + root +
                   "; set ITERC_CACHE_DIR to use another)");
  std::vector<EmittedFile> files = emitted->files;
  files.push_back({"diagnostics.txt", emitted->diagnostics});
  files.push_back({"program.txt", program});
  if (!writeAll(work, files, error))
    return ioError(error + " (cache directory " + root +
                   "; set ITERC_CACHE_DIR to use another)");
  std::vector<std::string> command =
      compileCommand(compiler, *layout, work, program);
  if (args.verbose) {
    std::string line;
    for (const std::string &c : command)
      line += c + " ";
    std::fprintf(stderr, "iterc: in %s:\n  %s\n", work.c_str(), line.c_str());
  }
  // The compiler's output is kept in the entry; the static link's notes
  // about glibc's name-service functions are expected and not shown.
  int rc = runProcess(command, work, "compile.log");
  if (rc != 0) {
    std::string log;
    readFile(work + "/compile.log", log);
    std::fputs(log.c_str(), stderr);
    std::fprintf(stderr,
                 "iterc: error: the C++ compiler failed (exit %d) on the "
                 "code generated for '%s'; the sources are kept in %s\n",
                 rc, args.file.c_str(), work.c_str());
    return ExitErrors;
  }
  if (args.verbose) {
    std::string log;
    readFile(work + "/compile.log", log);
    std::fputs(log.c_str(), stderr);
  }
  if (!buildcache::recordChecksum(work, program, error))
    return ioError(error);
  if (args.noCache)
    removeTree(entry);
  if (::rename(work.c_str(), entry.c_str()) != 0) {
    // Another build of the same input finished first: use its entry.
    removeTree(work);
    if (!fileExists(binary))
      return ioError("cannot move the build into the cache at " + entry + ": " +
                     std::strerror(errno));
  }
  binaryFd = buildcache::openVerified(entry, program, error);
  if (binaryFd < 0)
    return ioError(error);
  return ExitOk;
}

/// A container build context: the emitted files kept in the cache entry
/// (as listed by its manifest), the executable and a CA bundle.
bool writeContext(const std::string &dir, const std::string &binary,
                  int binaryFd, std::string &error) {
  std::string entry = dirName(binary);
  std::string manifestText;
  if (!readFile(entry + "/manifest.json", manifestText)) {
    error = "the cache entry " + entry + " has no manifest.json";
    return false;
  }
  if (!makeDirs(dir)) {
    error = "cannot create directory '" + dir + "': " + std::strerror(errno);
    return false;
  }
  nlohmann::json manifest =
      nlohmann::json::parse(manifestText, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || !manifest["files"].is_array()) {
    error = "the cache entry " + entry + " has a malformed manifest.json";
    return false;
  }
  std::vector<std::string> names = {"manifest.json"};
  for (const nlohmann::json &file : manifest["files"])
    if (file.is_object() && file["path"].is_string())
      names.push_back(file["path"].get<std::string>());
  for (const std::string &name : names) {
    std::string content;
    if (!readFile(entry + "/" + name, content) ||
        !makeDirs(dirName(dir + "/" + name)) ||
        !writeFileAtomic(dir + "/" + name, content)) {
      error = "cannot copy '" + name + "' into '" + dir + "'";
      return false;
    }
  }
  std::string program = binary.substr(binary.find_last_of('/') + 1);
  if (!copyFile(binaryFd, dir + "/" + program, error))
    return false;
  const char *certEnv = std::getenv("SSL_CERT_FILE");
  std::string cert =
      certEnv && *certEnv ? certEnv : "/etc/ssl/certs/ca-certificates.crt";
  std::string bundle;
  if (!readFile(cert, bundle) || bundle.empty()) {
    error = "cannot read the CA bundle '" + cert +
            "' (install ca-certificates or set SSL_CERT_FILE)";
    return false;
  }
  if (!writeFileAtomic(dir + "/ca-certificates.crt", bundle)) {
    error = "cannot write '" + dir + "/ca-certificates.crt'";
    return false;
  }
  return true;
}

} // namespace

int iterc::runEmit(int argc, char **argv) {
  Args args;
  if (std::optional<int> rc =
          parseArgs(argc, argv, "emit", emitHelp, false, args))
    return *rc;
  if (args.output.empty())
    return usage("no output directory (-o DIR)", "emit");
  std::string error;
  std::optional<Layout> layout = findLayout(error);
  if (!layout)
    return ioError(error);
  std::optional<Skeletons> skeletons = loadSkeletons(*layout, error);
  if (!skeletons)
    return ioError(error);
  int status = ExitOk;
  std::optional<Emitted> emitted = checkAndEmit(args.file, *skeletons, status);
  if (!emitted)
    return status;
  if (!writeAll(args.output, emitted->files, error))
    return ioError(error);
  return ExitOk;
}

namespace {

/// Builds `args.file` through the cache: a `.iter` source, or a bundle,
/// whose source is built under its recorded path and whose generated files
/// must then be those of the build.
int buildInput(Args &args, std::string &binary, std::string &program,
               int &binaryFd) {
  std::optional<WorkflowBundle> bundle;
  std::string bundlePath = args.file;
  if (isBundleInput(args.file)) {
    bundle.emplace();
    if (int rc = loadBundleForBuild(args.file, *bundle); rc != ExitOk)
      return rc;
    args.file = bundle->sourcePath;
    args.sourceText = bundle->sourceText;
  }
  if (int rc = buildCached(args, binary, program, binaryFd); rc != ExitOk)
    return rc;
  if (bundle)
    return checkBundleAgainstBuild(bundlePath, *bundle, dirName(binary));
  return ExitOk;
}

/// The services' files of the build context (ServiceContexts.h). The
/// source was checked by the build; it is parsed again here because a
/// cached build does not parse it.
bool writeBuiltServices(const Args &args, const std::string &binary,
                        const std::string &program, std::string &error) {
  std::optional<std::string> text =
      args.sourceText ? args.sourceText : readSourceFile(args.file, error);
  if (!text)
    return false;
  SourceManager sources;
  DiagnosticEngine diags(sources);
  unsigned id = sources.addBuffer(args.file, *text);
  CompiledFile compiled = compileBuffer(sources, id, diags);
  if (!compiled.module || diags.hasErrors()) {
    error = "'" + args.file + "' no longer checks; build it again";
    return false;
  }
  return driver::writeServiceContexts(*compiled.module, args.file, args.context,
                                      binary, program, error);
}

} // namespace

int iterc::runBuild(int argc, char **argv) {
  Args args;
  if (std::optional<int> rc =
          parseArgs(argc, argv, "build", buildHelp, false, args))
    return *rc;
  std::string binary, program;
  int binaryFd = -1;
  int rc = buildInput(args, binary, program, binaryFd);
  if (rc == ExitOk) {
    std::string output = args.output.empty() ? "./" + program : args.output;
    std::string error;
    if (!copyFile(binaryFd, output, error) ||
        (!args.context.empty() &&
         // The services' probe is copied from the verified copy just written.
         (!writeContext(args.context, binary, binaryFd, error) ||
          !writeBuiltServices(args, output, program, error))))
      rc = ioError(error);
  }
  if (binaryFd >= 0)
    ::close(binaryFd);
  return rc;
}

int iterc::emitWorkflowFiles(const std::string &path, const std::string &text,
                             std::vector<EmittedFile> &files) {
  std::string error;
  std::optional<Layout> layout = findLayout(error);
  if (!layout)
    return ioError(error);
  std::optional<Skeletons> skeletons = loadSkeletons(*layout, error);
  if (!skeletons)
    return ioError(error);
  int status = ExitOk;
  std::optional<Emitted> emitted =
      checkAndEmit(path, *skeletons, status, &text);
  if (!emitted)
    return status;
  files = std::move(emitted->files);
  return ExitOk;
}

bool iterc::findSkeletons(Skeletons &skeletons, std::string &error) {
  std::optional<Layout> layout = findLayout(error);
  if (!layout)
    return false;
  std::optional<Skeletons> loaded = loadSkeletons(*layout, error);
  if (!loaded)
    return false;
  skeletons = std::move(*loaded);
  return true;
}

int iterc::runRun(int argc, char **argv) {
  Args args;
  if (std::optional<int> rc = parseArgs(argc, argv, "run", runHelp, true, args))
    return *rc;
  std::string binary, program;
  int binaryFd = -1;
  if (int rc = buildInput(args, binary, program, binaryFd); rc != ExitOk) {
    if (binaryFd >= 0)
      ::close(binaryFd);
    return rc;
  }
  std::vector<std::string> rest = args.rest;
  if (rest.empty())
    rest.push_back("run");
  std::vector<char *> av;
  av.push_back(const_cast<char *>(program.c_str()));
  for (std::string &a : rest)
    av.push_back(a.data());
  av.push_back(nullptr);
  std::fflush(stdout);
  // The very file whose checksum was verified, not the path again.
  ::fexecve(binaryFd, av.data(), environ);
  return ioError("cannot run '" + binary + "': " + std::strerror(errno));
}
