//===- BundleCmd.cpp - iterc bundle and iterc unbundle --------------------===//
//
// This file implements `iterc bundle`, `iterc unbundle` and the bundle side
// of `iterc build X.bundle`.
//
// Unbundling writes nothing until the whole bundle is verified, then
// refuses a destination where a directory on the way is a symbolic link:
// every directory is opened without following links, so no file lands
// outside DIR whatever DIR already holds.
//
//===----------------------------------------------------------------------===//
#include "Driver/BundleCmd.h"
#include "Driver/Exit.h"

#include "Driver/Build.h"
#include "Driver/Pipeline.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc;
using namespace iterc::codegen;
using namespace iterc::driver;

const char *iterc::bundleHelp =
    "usage: iterc bundle FILE -o OUT [--format=binary|markdown]\n"
    "\n"
    "Checks the workflow FILE, generates its files like 'iterc emit' and\n"
    "writes one bundle OUT holding the source (as source/<its path>), every\n"
    "generated file and manifest.json, each with its length and sha256. A\n"
    "bundle is lossless (byte for byte, whatever the files hold) and\n"
    "deterministic: the same source at the same relative path gives the same\n"
    "bytes. FILE may also be a bundle: it is verified and written again, in\n"
    "the form --format asks for.\n"
    "\n"
    "  -o, --output OUT    the bundle to write ('-' for standard output)\n"
    "  --format=binary     length-prefixed raw bytes (the default)\n"
    "  --format=markdown   a Markdown document for review: per file a\n"
    "                      heading, its sha256 and a fence no content can\n"
    "                      close; non-text files in base64 (the default when\n"
    "                      OUT ends in .md)\n"
    "\n"
    "'iterc unbundle OUT -o DIR' restores the files, 'iterc build OUT'\n"
    "builds the workflow. The format is described in docs/bundle.md.\n"
    "\n"
    "exit status: 0 written, 1 the workflow has errors or the input bundle\n"
    "is damaged, 2 usage or I/O error\n";

const char *iterc::unbundleHelp =
    "usage: iterc unbundle BUNDLE -o DIR\n"
    "       iterc unbundle BUNDLE --check\n"
    "\n"
    "Verifies BUNDLE (either form) and restores its files into DIR byte for\n"
    "byte: the generated files at the top, the source under source/. Nothing\n"
    "is written unless every check passes: the format version, every length\n"
    "and sha256, the bundle digest, the manifest, and every path (relative,\n"
    "without '..', and no symbolic link in DIR on the way).\n"
    "\n"
    "  -o, --output DIR   where to restore (created if needed; files of the\n"
    "                     same name are replaced, others are left alone)\n"
    "  --check            verify only and print a summary; write nothing\n"
    "\n"
    "exit status: 0 restored (or intact), 1 the bundle is damaged, altered or\n"
    "malformed, 2 usage or I/O error (including an unsafe DIR)\n";

namespace {


int refused(const std::string &bundle, const std::string &why) {
  std::fprintf(stderr, "iterc: error: bundle '%s' refused: %s\n",
               bundle.c_str(), why.c_str());
  return ExitErrors;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads and verifies a workflow bundle; prints why on failure.
std::optional<WorkflowBundle> loadWorkflowBundle(const std::string &path,
                                                 int &status) {
  std::string error;
  std::optional<std::string> text = readSourceFile(path, error);
  if (!text) {
    std::fprintf(stderr, "iterc: cannot read '%s': %s\n", path.c_str(),
                 error.c_str());
    status = ExitUsage;
    return std::nullopt;
  }
  BundleError why;
  std::optional<Bundle> bundle = readBundle(*text, why);
  std::optional<WorkflowBundle> workflow;
  if (bundle)
    workflow = checkWorkflowBundle(*bundle, why);
  if (!workflow)
    status = refused(path, why.describe());
  return workflow;
}

/// Writes `content` to `path` ('-': standard output) through a temporary
/// file and a rename.
bool writeOutput(const std::string &path, const std::string &content,
                 std::string &error) {
  if (path == "-") {
    if (std::fwrite(content.data(), 1, content.size(), stdout) !=
            content.size() ||
        std::fflush(stdout) != 0) {
      error = "cannot write to standard output";
      return false;
    }
    return true;
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  for (size_t done = 0; ok && done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    done += ok ? size_t(n) : 0;
  }
  int saved = errno;
  if (fd >= 0 && ::close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    error = "cannot write '" + path + "': " + std::strerror(saved);
  }
  return ok;
}

std::vector<std::string> components(const std::string &path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(
        start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos)
      return out;
    start = slash + 1;
  }
}

/// Checks, without changing anything, that `path` can be written under the
/// directory `root`: every directory on the way that exists is a real
/// directory (not a symbolic link), and the file itself is not a directory.
bool checkDestination(int root, const std::string &dir, const std::string &path,
                      std::string &error) {
  std::vector<std::string> parts = components(path);
  std::string prefix;
  for (size_t i = 0; i < parts.size(); ++i) {
    prefix += (i ? "/" : "") + parts[i];
    struct stat st;
    if (::fstatat(root, prefix.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT)
        return true;
      error = "cannot inspect '" + dir + "/" + prefix +
              "': " + std::strerror(errno);
      return false;
    }
    bool last = i + 1 == parts.size();
    if (!last && S_ISLNK(st.st_mode)) {
      error = "refusing to write '" + dir + "/" + path + "': '" + dir + "/" +
              prefix + "' is a symbolic link, which could lead outside '" +
              dir + "'";
      return false;
    }
    if (!last && !S_ISDIR(st.st_mode)) {
      error = "cannot write '" + dir + "/" + path + "': '" + dir + "/" +
              prefix + "' is not a directory";
      return false;
    }
    if (last && S_ISDIR(st.st_mode)) {
      error = "cannot write '" + dir + "/" + path + "': it is a directory";
      return false;
    }
  }
  return true;
}

/// Writes `content` at `path` under the directory `root`, creating the
/// directories on the way and following no symbolic link: through a
/// temporary file and a rename, which replaces a link at `path` itself
/// rather than writing where it points.
bool writeUnder(int root, const std::string &dir, const std::string &path,
                const std::string &content, unsigned serial,
                std::string &error) {
  std::vector<std::string> parts = components(path);
  int at = ::dup(root);
  auto fail = [&](const std::string &what) {
    error = what + ": " + std::strerror(errno);
    if (at >= 0)
      ::close(at);
    return false;
  };
  if (at < 0)
    return fail("cannot open '" + dir + "'");
  std::string where = dir;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    where += "/" + parts[i];
    if (::mkdirat(at, parts[i].c_str(), 0755) != 0 && errno != EEXIST)
      return fail("cannot create directory '" + where + "'");
    int next = ::openat(at, parts[i].c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0)
      return fail("cannot open directory '" + where +
                  "' (a symbolic link is not followed)");
    ::close(at);
    at = next;
  }
  std::string tmp = ".iterc-unbundle." + std::to_string(::getpid()) + "." +
                    std::to_string(serial);
  int fd = ::openat(at, tmp.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail("cannot write '" + dir + "/" + path + "'");
  bool ok = true;
  for (size_t done = 0; ok && done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    done += ok ? size_t(n) : 0;
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::renameat(at, tmp.c_str(), at, parts.back().c_str()) != 0) {
    int saved = errno;
    ::unlinkat(at, tmp.c_str(), 0);
    errno = saved;
    return fail("cannot write '" + dir + "/" + path + "'");
  }
  ::close(at);
  return true;
}

} // namespace

int iterc::runBundle(int argc, char **argv) {
  std::string input, output;
  std::optional<BundleForm> form;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(bundleHelp, stdout);
      return ExitOk;
    }
    if (arg == "-o" || arg == "--output" || arg == "--format") {
      if (i + 1 >= argc)
        return usage(arg + " needs a value", "bundle");
      arg += "=" + std::string(argv[++i]);
      if (arg[1] == 'o')
        arg = "--output" + arg.substr(2);
    }
    if (arg.rfind("--output=", 0) == 0) {
      output = arg.substr(9);
      if (output.empty())
        return usage("--output needs a value", "bundle");
    } else if (arg.rfind("--format=", 0) == 0) {
      std::string name = arg.substr(9);
      if (name == "binary")
        form = BundleForm::Binary;
      else if (name == "markdown")
        form = BundleForm::Markdown;
      else
        return usage("unknown format '" + name +
                         "'; expected binary or markdown",
                     "bundle");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage(unknownOption(arg, {"--help", "--output", "--format"}),
                   "bundle");
    } else if (input.empty()) {
      input = arg;
    } else {
      return usage("one workflow file at a time ('" + input + "' and '" + arg +
                       "')",
                   "bundle");
    }
  }
  if (input.empty())
    return usage("no input file", "bundle");
  if (input == "-")
    return usage("bundle reads a file, not standard input (the source's "
                 "path is recorded in the bundle)",
                 "bundle");
  if (output.empty())
    return usage("no output file (-o NAME.bundle)", "bundle");
  std::string recorded = recordedSourcePath(input);
  if (std::string why =
          checkBundlePath(std::string(BundleSourceDir) + recorded);
      !why.empty())
    return usage("the source's path '" + recorded +
                     "' is recorded in the bundle, and cannot be: " + why +
                     " (run iterc bundle from a directory that holds the "
                     "source)",
                 "bundle");
  if (!form)
    form = endsWith(output, ".md") ? BundleForm::Markdown : BundleForm::Binary;

  std::string error;
  std::optional<std::string> text = readSourceFile(input, error);
  if (!text) {
    std::fprintf(stderr, "iterc: cannot read '%s': %s\n", input.c_str(),
                 error.c_str());
    return ExitUsage;
  }
  std::vector<EmittedFile> files;
  if (looksLikeBundle(*text)) {
    int status = ExitOk;
    std::optional<WorkflowBundle> workflow = loadWorkflowBundle(input, status);
    if (!workflow)
      return status;
    files = workflowBundleFiles(workflow->emitted, workflow->sourcePath,
                                workflow->sourceText);
  } else {
    std::vector<EmittedFile> emitted;
    if (int rc = emitWorkflowFiles(input, *text, emitted); rc != ExitOk)
      return rc;
    files = workflowBundleFiles(emitted, recorded, *text);
  }
  BundleError why;
  std::optional<std::string> bundle = writeBundle(std::move(files), *form, why);
  if (!bundle)
    return ioError("cannot bundle '" + input + "': " + why.describe());
  if (!writeOutput(output, *bundle, error))
    return ioError(error);
  return ExitOk;
}

int iterc::runUnbundle(int argc, char **argv) {
  std::string input, output;
  bool check = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(unbundleHelp, stdout);
      return ExitOk;
    }
    if (arg == "-o" || arg == "--output") {
      if (i + 1 >= argc)
        return usage(arg + " needs a value", "unbundle");
      output = argv[++i];
      if (output.empty())
        return usage(arg + " needs a value", "unbundle");
    } else if (arg.rfind("--output=", 0) == 0) {
      output = arg.substr(9);
      if (output.empty())
        return usage("--output needs a value", "unbundle");
    } else if (arg == "--check") {
      check = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage(unknownOption(arg, {"--help", "--output", "--check"}),
                   "unbundle");
    } else if (input.empty()) {
      input = arg;
    } else {
      return usage("one bundle at a time ('" + input + "' and '" + arg + "')",
                   "unbundle");
    }
  }
  if (input.empty())
    return usage("no bundle", "unbundle");
  if (check && !output.empty())
    return usage("--check writes nothing; it takes no -o", "unbundle");
  if (!check && output.empty())
    return usage("no output directory (-o DIR)", "unbundle");

  int status = ExitOk;
  std::optional<WorkflowBundle> workflow = loadWorkflowBundle(input, status);
  if (!workflow)
    return status;
  std::vector<EmittedFile> files = workflowBundleFiles(
      workflow->emitted, workflow->sourcePath, workflow->sourceText);
  if (check) {
    std::printf("%s: intact: %zu files, the workflow '%s' generated by iterc "
                "%s; bundle digest %s\n",
                input.c_str(), files.size(), workflow->sourcePath.c_str(),
                workflow->itercVersion.c_str(), bundleDigest(files).c_str());
    return ExitOk;
  }

  std::error_code ec;
  std::filesystem::create_directories(output, ec);
  if (ec)
    return ioError("cannot create directory '" + output + "': " + ec.message());
  int root = ::open(output.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return ioError("cannot open directory '" + output +
                   "': " + std::strerror(errno));
  std::string error;
  bool ok = true;
  for (const EmittedFile &f : files)
    if (!(ok = checkDestination(root, output, f.path, error)))
      break;
  for (size_t i = 0; ok && i < files.size(); ++i)
    ok = writeUnder(root, output, files[i].path, files[i].content, unsigned(i),
                    error);
  ::close(root);
  return ok ? ExitOk : ioError(error);
}

bool iterc::isBundleInput(const std::string &path) {
  if (path == "-")
    return false;
  if (endsWith(path, ".bundle") || endsWith(path, ".bundle.md"))
    return true;
  std::ifstream in(path, std::ios::binary);
  char head[32] = {};
  in.read(head, sizeof head);
  return looksLikeBundle(std::string_view(head, size_t(in.gcount())));
}

int iterc::loadBundleForBuild(const std::string &path, WorkflowBundle &bundle) {
  int status = ExitOk;
  std::optional<WorkflowBundle> workflow = loadWorkflowBundle(path, status);
  if (!workflow)
    return status;
  if (workflow->itercVersion != ITERC_VERSION)
    std::fprintf(stderr,
                 "iterc: note: bundle '%s' was made by iterc %s, this is "
                 "iterc %s: building from its source '%s'; the generated "
                 "files it holds are not used\n",
                 path.c_str(), workflow->itercVersion.c_str(), ITERC_VERSION,
                 workflow->sourcePath.c_str());
  bundle = std::move(*workflow);
  return ExitOk;
}

int iterc::checkBundleAgainstBuild(const std::string &path,
                                   const WorkflowBundle &bundle,
                                   const std::string &generatedDir) {
  if (bundle.itercVersion != ITERC_VERSION)
    return ExitOk;
  for (const EmittedFile &f : bundle.emitted) {
    std::ifstream in(generatedDir + "/" + f.path, std::ios::binary);
    std::ostringstream mine;
    mine << in.rdbuf();
    if (!in || mine.str() != f.content)
      return refused(
          path, "file '" + f.path +
                    "' is not what iterc " ITERC_VERSION
                    " generates from the bundled source '" +
                    bundle.sourcePath +
                    "': the bundle was altered or made by a modified iterc");
  }
  return ExitOk;
}
