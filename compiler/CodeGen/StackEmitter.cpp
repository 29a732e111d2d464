//===- StackEmitter.cpp - Dockerfile, compose file and README -------------===//
//
// This file implements the stack emitters. The texts are written by hand,
// line by line, in a fixed order, from the module and the emit context only.
//
// Decisions worth knowing:
// - The image is FROM scratch, so there is no shell to `mkdir` or `chown`.
//   The writable directories (/data for the run store, /workspace for tools
//   and generated files) are created by copying the root of an empty stage
//   with `COPY --from=empty --chown=65532:65532 / /data/`: the destination
//   directory is created owned by the non-root user (BuildKit and buildah
//   both do this), and a named volume mounted there on first use copies that
//   ownership. The context needs nothing but the binary and the CA bundle.
// - compose.yaml quotes every string scalar as a JSON-style double-quoted
//   YAML string and doubles every `$` in strings taken from the source, so
//   Compose never interpolates them. It has no top-level `name:`: Compose v2
//   accepts it but docker-compose 1.x (Debian 12's) rejects the whole file;
//   the README passes `-p <program>` instead.
// - An HTTP health check of a packaged service (below) runs the probe iterc
//   puts in its image, in exec form. Any other HTTP health check becomes a
//   CMD-SHELL test that tries wget, then curl, against 127.0.0.1 inside the
//   service's own container (images iterc does not build have one or the
//   other far more often than neither).
// - `program` services are processes on the host: they cannot be put in a
//   container from the source alone, so compose lists them in a comment.
//   A `build` service with `program` and no `dockerfile` gets a generated
//   FROM-scratch Dockerfile (services/<name>/Dockerfile, written by `iterc
//   emit`); compose builds it from services/<name>/, where `iterc build
//   --context` copies the program and the health probe (ServiceImage.h), so
//   the context is complete whatever the service's own context is.
// - The runner and the services share one network named after the
//   workflow, and the runner runs with ITERC_STACK=external: compose starts
//   the services and the runner reaches each by its name on its container
//   port instead of starting them itself.
//
//===----------------------------------------------------------------------===//
#include "CodeGen/StackEmitter.h"

#include "CodeGen/ServiceImage.h"

#include "Tools/GraphPrinter.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string_view>

using namespace iterc;
using namespace iterc::codegen;

namespace {

//===----------------------------------------------------------------------===//
// Text helpers
//===----------------------------------------------------------------------===//

/// The non-root user and group the container runs as (numeric: scratch has
/// no /etc/passwd).
constexpr const char *kUser = "65532:65532";
constexpr const char *kStoreDir = "/data";
constexpr const char *kWorkspaceDir = "/workspace";
constexpr const char *kCaBundle = "ca-certificates.crt";
constexpr const char *kCaPath = "/etc/ssl/certs/ca-certificates.crt";

/// A source path fit for generated text: relative (only the file name of an
/// absolute path) with '/' separators.
std::string displaySource(const EmitContext &ctx) {
  std::string path = ctx.sourcePath;
  std::replace(path.begin(), path.end(), '\\', '/');
  if (!path.empty() && path[0] == '/')
    path = path.substr(path.rfind('/') + 1);
  return path.empty() ? std::string("<stdin>") : path;
}

/// The program name as EmitContext documents it: [a-z0-9_-] only.
std::string programName(const EmitContext &ctx) {
  std::string out;
  for (char c : ctx.programName) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 'A' && u <= 'Z')
      out += static_cast<char>(u - 'A' + 'a');
    else if ((u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '_' ||
             u == '-')
      out += c;
    else
      out += '_';
  }
  return out.empty() ? std::string("workflow") : out;
}

/// A repository name Docker accepts: lower-case alphanumeric runs separated
/// by `_`, `__` or dashes; any other separator becomes `-`.
std::string imageRepository(const std::string &name) {
  std::string out;
  size_t i = 0;
  while (i < name.size()) {
    size_t start = i;
    bool alnum = std::isalnum(static_cast<unsigned char>(name[i]));
    while (i < name.size() &&
           static_cast<bool>(
               std::isalnum(static_cast<unsigned char>(name[i]))) == alnum)
      ++i;
    std::string run = name.substr(start, i - start);
    if (alnum) {
      out += run;
      continue;
    }
    if (out.empty() || i == name.size())
      continue; // Leading and trailing separators are dropped.
    bool dashes = run.find_first_not_of('-') == std::string::npos;
    out += run == "_" || run == "__" || dashes ? run : std::string("-");
  }
  return out.empty() ? std::string("workflow") : out;
}

std::string shortSha(const EmitContext &ctx) {
  return ctx.sourceSha256.substr(0, 12);
}

std::string imageName(const EmitContext &ctx) {
  std::string tag = shortSha(ctx);
  return "iterc/" + imageRepository(programName(ctx)) + ":" +
         (tag.empty() ? std::string("latest") : tag);
}

/// Decodes one UTF-8 sequence at `i`; false for an invalid one.
bool decodeUtf8(std::string_view s, size_t i, uint32_t &cp, size_t &len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    cp = c;
    len = 1;
    return true;
  }
  uint32_t min;
  if ((c & 0xe0) == 0xc0) {
    cp = c & 0x1f;
    len = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    cp = c & 0x0f;
    len = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    cp = c & 0x07;
    len = 4;
    min = 0x10000;
  } else {
    return false;
  }
  if (i + len > s.size())
    return false;
  for (size_t k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80)
      return false;
    cp = (cp << 6) | (d & 0x3f);
  }
  return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

/// One line of comment text, safe in YAML, Dockerfile and Markdown: control
/// characters, characters YAML 1.1 reads as line breaks (NEL, LS, PS), the
/// BOM and invalid UTF-8 become '?'.
std::string commentText(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = 1;
    if (!decodeUtf8(s, i, cp, len)) {
      out += '?';
      ++i;
      continue;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0xfeff) {
      out += '?';
      i += len;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

std::string headerText(const EmitContext &ctx) {
  return "Generated by iterc " + commentText(ctx.itercVersion) + " from " +
         commentText(displaySource(ctx)) + ". DO NOT EDIT.";
}

/// A JSON-style double-quoted YAML scalar. Characters YAML does not allow
/// unescaped (controls, C1, line/paragraph separators, BOM, non-characters)
/// are escaped; invalid UTF-8 becomes U+FFFD.
std::string yamlQuote(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = 1;
    if (!decodeUtf8(s, i, cp, len)) {
      out += "\\uFFFD";
      ++i;
      continue;
    }
    switch (cp) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
          cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
          cp == 0xffff) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
        out += buf;
      } else {
        out.append(s.substr(i, len));
      }
    }
    i += len;
  }
  return out + "\"";
}

/// A string from the source as a compose value: `$` doubled so that Compose
/// does not interpolate it, then quoted.
std::string composeQuote(std::string_view s) {
  std::string escaped;
  for (char c : s) {
    if (c == '$')
      escaped += '$';
    escaped += c;
  }
  return yamlQuote(escaped);
}

/// A flow sequence of compose strings: ["a", "b"].
std::string composeList(const std::vector<std::string> &items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + composeQuote(items[i]);
  return out + "]";
}

/// A double-quoted Dockerfile word: `\`, `"` and `$` (variable
/// substitution) escaped, control characters replaced by spaces.
std::string dockerQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"' || c == '$')
      out += '\\';
    out += u < 0x20 || u == 0x7f ? ' ' : c;
  }
  return out + "\"";
}

/// Inline Markdown code: `x`, or `` x `` when x holds a backtick; table
/// pipes escaped.
std::string code(std::string_view s) {
  std::string body;
  for (char c : s) {
    if (c == '|')
      body += "\\|";
    else if (c == '\n' || c == '\r')
      body += ' ';
    else
      body += c;
  }
  if (body.find('`') == std::string::npos)
    return "`" + body + "`";
  return "`` " + body + " ``";
}

/// A Go-style duration as Compose reads it: "2s", "1500ms".
std::string duration(int64_t ms) {
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

/// Single-quotes a word for /bin/sh.
std::string shellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

//===----------------------------------------------------------------------===//
// Facts about the module
//===----------------------------------------------------------------------===//

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9'); }

/// Adds the names of the `${NAME}` and `${NAME:-...}` references of `text`,
/// nested defaults included.
void scanEnvRefs(std::string_view text, const std::string &where,
                 std::map<std::string, std::vector<std::string>> &out) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] != '$' || text[i + 1] != '{' || !isIdentStart(text[i + 2]))
      continue;
    size_t j = i + 2;
    while (j < text.size() && isIdentChar(text[j]))
      ++j;
    if (j >= text.size() || (text[j] != '}' && text.compare(j, 2, ":-") != 0))
      continue;
    std::vector<std::string> &places =
        out[std::string(text.substr(i + 2, j - i - 2))];
    if (std::find(places.begin(), places.end(), where) == places.end())
      places.push_back(where);
  }
}

/// The model a node calls, or "" when it calls none.
std::string nodeModel(const ir::Node &n) {
  if (!n.callsModel())
    return std::string();
  if (n.kind == ir::NodeKind::Human && !n.interactionModel.empty())
    return n.interactionModel;
  return n.model;
}

/// The provider prefix of a model string. For `${NAME:-default}` it is the
/// default's; "" when the model is chosen entirely by the environment.
std::string providerOf(std::string_view model) {
  if (model.rfind("${", 0) == 0) {
    size_t dflt = model.find(":-");
    size_t close = model.find('}');
    if (dflt == std::string_view::npos || close < dflt)
      return std::string();
    model = model.substr(dflt + 2);
  }
  size_t slash = model.find('/');
  if (slash == std::string_view::npos)
    return std::string();
  return std::string(model.substr(0, slash));
}

struct ProviderEnv {
  const char *provider;
  const char *key;     ///< The API key variable, or nullptr.
  const char *baseUrl; ///< The base URL variable.
  const char *urlHint; ///< What the base URL is for.
};

constexpr ProviderEnv kProviders[] = {
    {"openai", "OPENAI_API_KEY", "OPENAI_BASE_URL",
     "optional: another OpenAI-compatible endpoint (vLLM, llama.cpp, ...)"},
    {"anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
     "optional: another Anthropic-compatible endpoint"},
    {"ollama", nullptr, "OLLAMA_BASE_URL",
     "the Ollama server, e.g. http://localhost:11434"},
    {"openrouter", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
     "optional: another OpenRouter endpoint"},
};

const ProviderEnv *findProvider(std::string_view name) {
  for (const ProviderEnv &p : kProviders)
    if (name == p.provider)
      return &p;
  return nullptr;
}

const ir::Service *findService(const ir::Module &m, std::string_view name) {
  for (const ir::Service &s : m.services)
    if (s.name == name)
      return &s;
  return nullptr;
}

/// True when compose can gate on this service's health.
bool hasHealthTest(const ir::Service &s) {
  return s.health && (!s.health->http.empty() || !s.health->command.empty());
}

bool isProgram(const ir::Service &s) {
  return s.image.empty() && s.buildContext.empty() && !s.program.empty();
}

/// The container side of a port declaration ("8080:80" -> "80").
std::string containerPort(const std::string &declaration) {
  size_t colon = declaration.rfind(':');
  return colon == std::string::npos ? declaration
                                    : declaration.substr(colon + 1);
}

/// A Dockerfile word: as is when it holds only characters no instruction
/// treats specially, else double-quoted.
std::string dockerWord(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain &&
            (std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("._-/+@:=,%").find(c) != std::string_view::npos);
  return plain ? std::string(s) : dockerQuote(s);
}

/// An exec-form (JSON array) Dockerfile argument list: ["a", "b"].
std::string dockerExecForm(const std::vector<std::string> &words) {
  std::string out = "[";
  for (size_t i = 0; i < words.size(); ++i)
    out +=
        (i ? ", " : "") +
        nlohmann::ordered_json(words[i]).dump(
            -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return out + "]";
}

/// The container port an HTTP health check probes: the container side of
/// the first published port, or 80.
std::string healthPort(const ir::Service &s) {
  if (s.ports.empty())
    return "80";
  return containerPort(s.ports.front());
}

/// The compose name of the runner: the program name, unless a declared
/// service already has it.
std::string runnerKey(const ir::Module &m, const EmitContext &ctx) {
  std::string name = programName(ctx);
  for (const ir::Service &s : m.services)
    if (composeKey(s.name) == name)
      return name + "-runner";
  return name;
}

bool pausesForHuman(const ir::Node &n) {
  if (n.kind == ir::NodeKind::Human)
    return n.interaction == ir::Interaction::Human ||
           n.interaction == ir::Interaction::LlmOrHuman;
  return n.kind == ir::NodeKind::Tool && n.approval;
}

std::string jsonText(const nlohmann::ordered_json &value) {
  return value.dump(-1, ' ', false,
                    nlohmann::ordered_json::error_handler_t::replace);
}

std::string typeText(const ir::Var &v) {
  std::string t = ir::typeName(v.type);
  if (!v.enumValues.empty()) {
    t += " [enum:";
    for (size_t i = 0; i < v.enumValues.size(); ++i)
      t += (i ? ", " : " ") + jsonText(v.enumValues[i]);
    t += "]";
  }
  return t;
}

std::string placeholder(const ir::Var &v) {
  switch (v.type) {
  case ir::TypeKind::String:
    return v.enumValues.empty() ? "TEXT" : v.enumValues.front();
  case ir::TypeKind::Bool:
    return "true";
  case ir::TypeKind::Int:
    return "1";
  case ir::TypeKind::Float:
    return "0.5";
  case ir::TypeKind::StringList:
    return "[\"a\",\"b\"]";
  case ir::TypeKind::Json:
  case ir::TypeKind::Files:
    return "{}";
  }
  return "VALUE";
}

} // namespace

//===----------------------------------------------------------------------===//
// Public facts
//===----------------------------------------------------------------------===//

std::map<std::string, std::vector<std::string>>
codegen::collectEnvRefs(const ir::Module &m) {
  std::map<std::string, std::vector<std::string>> refs;
  for (const ir::Var &v : m.vars)
    if (v.hasDefault && v.type == ir::TypeKind::String &&
        v.defaultValue.is_string())
      scanEnvRefs(v.defaultValue.get<std::string>(),
                  "default of var `" + v.name + "`", refs);
  for (const ir::Node &n : m.workflow.nodes) {
    if (n.isTerminal())
      continue;
    scanEnvRefs(n.model, "model of `" + n.name + "`", refs);
    scanEnvRefs(n.interactionModel, "interaction model of `" + n.name + "`",
                refs);
    scanEnvRefs(n.reasoningEffort, "reasoning effort of `" + n.name + "`",
                refs);
    if (n.kind != ir::NodeKind::Tool)
      continue;
    scanEnvRefs(n.command.source, "command of tool `" + n.name + "`", refs);
    for (const auto &[key, value] : n.env)
      scanEnvRefs(value.source, "env of tool `" + n.name + "`", refs);
  }
  for (const ir::McpServer &s : m.mcpServers) {
    std::string where = "MCP server `" + s.name + "`";
    scanEnvRefs(s.command, where, refs);
    for (const std::string &arg : s.args)
      scanEnvRefs(arg, where, refs);
    scanEnvRefs(s.url, where, refs);
  }
  return refs;
}

std::vector<std::string> codegen::runnerEnvironment(const ir::Module &m) {
  std::set<std::string> names;
  for (const ProviderEnv &p : kProviders) {
    if (p.key)
      names.insert(p.key);
    names.insert(p.baseUrl);
  }
  for (const auto &[name, places] : collectEnvRefs(m))
    names.insert(name);
  return std::vector<std::string>(names.begin(), names.end());
}

//===----------------------------------------------------------------------===//
// Dockerfile
//===----------------------------------------------------------------------===//

std::string codegen::emitDockerfile(const ir::Module &m,
                                    const EmitContext &ctx) {
  const std::string name = programName(ctx);
  const std::string source = displaySource(ctx);
  const std::string bin = "/usr/local/bin/" + name;
  std::string o;
  o += "# " + headerText(ctx) + "\n";
  o += "#\n";
  const std::string &base = m.workflow.runnerImage;
  if (base.empty()) {
    o += "# The container image of the workflow " +
         commentText(m.workflow.name) + ": FROM scratch, the static\n";
    o += "# executable and a CA bundle, run as the non-root user " +
         std::string(kUser) + ".\n";
  } else {
    o += "# The container image of the workflow " +
         commentText(m.workflow.name) + ": the static executable and a\n";
    o += "# CA bundle on the base image " + commentText(base) +
         " (runner_image), which\n";
    o += "# must have /bin/sh and what the tool nodes run; run as the "
         "non-root user " +
         std::string(kUser) + ".\n";
  }
  o += "#\n";
  size_t width = std::max(name.size(), std::string_view(kCaBundle).size());
  auto item = [&](const std::string &file) {
    return "#   " + file + std::string(width - file.size() + 2, ' ');
  };
  o += "# The build context is a directory holding, besides this file:\n";
  o += item(name) + "the static executable, from\n";
  o += "#   " + std::string(width + 2, ' ') + "iterc build " +
       commentText(source) + " -o " + name + "\n";
  o += item(kCaBundle) + "a CA bundle, e.g. a copy of\n";
  o += "#   " + std::string(width + 2, ' ') + kCaPath + "\n";
  o += "# (`iterc build --context DIR` writes both with the generated files "
       "into DIR.)\n";
  o += "# Nothing else is needed: no /etc/passwd (the user is numeric), no "
       "RUN\n";
  o += base.empty() ? "# (there is no shell).\n"
                    : "# (the build does not depend on the base image's "
                      "shell).\n";
  o += "#   docker build -t " + imageName(ctx) + " .\n";
  o += "#   podman build -t " + imageName(ctx) + " .\n";
  o += "# COPY --chmod needs BuildKit (Docker's default builder) or buildah.\n";
  o += "#\n";
  o += "# The run store is the volume " + std::string(kStoreDir) +
       " and tools work in " + kWorkspaceDir + ". Both are\n";
  o += "# created owned by " + std::string(kUser) +
       " by copying the root of the empty stage below\n";
  o += "# with --chown; a named volume mounted on " + std::string(kStoreDir) +
       " takes that ownership.\n";
  o += "\n";
  o += "FROM scratch AS empty\n";
  o += "\n";
  o += "FROM " + (base.empty() ? std::string("scratch") : base) + "\n";
  o += "LABEL org.opencontainers.image.title=" + dockerQuote(m.workflow.name) +
       " \\\n";
  o += "      org.opencontainers.image.version=" +
       dockerQuote(ctx.itercVersion) + " \\\n";
  o += "      org.opencontainers.image.revision=" +
       dockerQuote("sha256:" + ctx.sourceSha256) + " \\\n";
  o += "      org.opencontainers.image.description=" +
       dockerQuote("LLM workflow " + m.workflow.name +
                   ", compiled by iterc into one static executable") +
       " \\\n";
  o += "      org.opencontainers.image.source=" + dockerQuote(source) + "\n";
  o += "COPY --chmod=0444 " + std::string(kCaBundle) + " " + kCaPath + "\n";
  o += "COPY --chmod=0555 " + name + " " + bin + "\n";
  o += "COPY --from=empty --chown=" + std::string(kUser) + " / " + kStoreDir +
       "/\n";
  o += "COPY --from=empty --chown=" + std::string(kUser) + " / " +
       kWorkspaceDir + "/\n";
  o += "ENV SSL_CERT_FILE=" + std::string(kCaPath) + " \\\n";
  o += "    ITERC_STORE_DIR=" + std::string(kStoreDir) + "\n";
  o += "USER " + std::string(kUser) + "\n";
  o += "WORKDIR " + std::string(kWorkspaceDir) + "\n";
  o += "VOLUME [\"" + std::string(kStoreDir) + "\"]\n";
  o += "ENTRYPOINT [\"" + bin + "\"]\n";
  o += "CMD [\"run\"]\n";
  return o;
}

//===----------------------------------------------------------------------===//
// Generated Dockerfiles of services
//===----------------------------------------------------------------------===//

std::string codegen::serviceDockerfilePath(const ir::Service &s) {
  if (!s.generatesDockerfile())
    return std::string();
  return packagedServiceDir(s) + "/Dockerfile";
}

std::string codegen::emitServiceDockerfile(const ir::Service &s,
                                           const EmitContext &ctx,
                                           ServiceImageContext where) {
  if (!s.generatesDockerfile())
    return std::string();
  // Sema made sure the program is a plain path inside the context.
  const bool packaged = where == ServiceImageContext::Packaged;
  const std::string from =
      packaged ? packagedProgramPath(s) : programInContext(s);
  const std::string bin = "/" + packagedProgramPath(s);
  const bool probe = packaged && usesHealthProbe(s);
  std::vector<std::string> exposed;
  for (const std::string &port : s.ports) {
    std::string p = containerPort(port);
    if (std::find(exposed.begin(), exposed.end(), p) == exposed.end())
      exposed.push_back(p);
  }
  std::string o;
  o += "# " + headerText(ctx) + "\n";
  if (packaged) {
    o += "# The image of service '" + commentText(s.name) +
         "': FROM scratch with the program " + commentText(s.program) +
         " of the build context " + commentText(s.buildContext) + ".\n";
    o += "# Its build context is this directory: `iterc build --context DIR` "
         "writes\n";
    o += "# the program to " + from +
         (probe ? std::string(" and the health probe to ") + kProbeFile
                : std::string()) +
         " beside this file.\n";
    if (probe)
      o += "# The probe is the workflow's static executable; compose runs "
           "its\n# `__probe URL` command as the health check (exec form, no "
           "shell).\n";
  } else {
    o += "# The image of service '" + commentText(s.name) +
         "': FROM scratch with the program " + commentText(s.program) +
         ", copied from the build context " + commentText(s.buildContext) +
         ".\n";
  }
  o += "# COPY --chmod needs BuildKit (Docker's default builder) or buildah.\n";
  o += "FROM scratch\n";
  o += "COPY --chmod=0555 " + from + " " + bin + "\n";
  if (probe)
    o += "COPY --chmod=0555 " + std::string(kProbeFile) + " " +
         kProbeImagePath + "\n";
  o += "WORKDIR " + dockerWord(s.workdir.empty() ? "/app" : s.workdir) + "\n";
  o += "USER " + std::string(kUser) + "\n";
  if (!exposed.empty()) {
    o += "EXPOSE";
    for (const std::string &p : exposed)
      o += " " + p;
    o += "\n";
  }
  o += "ENTRYPOINT " + dockerExecForm({bin}) + "\n";
  if (!s.command.empty())
    o += "CMD " + dockerExecForm(s.command) + "\n";
  return o;
}

//===----------------------------------------------------------------------===//
// compose.yaml
//===----------------------------------------------------------------------===//

namespace {

/// Writes a `depends_on:` block (at `indent`) for `deps`; program services
/// are left out with a comment.
void emitDependsOn(const ir::Module &m, const std::vector<std::string> &deps,
                   const std::string &indent, std::string &o) {
  std::string entries;
  std::string comments;
  std::set<std::string> seen;
  for (const std::string &dep : deps) {
    if (!seen.insert(dep).second)
      continue;
    const ir::Service *s = findService(m, dep);
    if (!s)
      continue;
    if (isProgram(*s)) {
      comments += indent + "# " + commentText(dep) +
                  ": a program service, started on the host, not by compose\n";
      continue;
    }
    entries += indent + "  " + yamlQuote(composeKey(dep)) + ":\n";
    entries += indent + "    condition: " +
               std::string(hasHealthTest(*s) ? "\"service_healthy\""
                                             : "\"service_started\"") +
               "\n";
  }
  if (entries.empty()) {
    o += comments;
    return;
  }
  o += comments;
  o += indent + "depends_on:\n" + entries;
}

void emitHealthcheck(const ir::Service &s, std::string &o) {
  const ir::HealthCheck &h = *s.health;
  std::vector<std::string> test;
  if (!h.command.empty()) {
    test.push_back("CMD");
    test.insert(test.end(), h.command.begin(), h.command.end());
  } else if (usesHealthProbe(s)) {
    test = probeHealthTest(s);
    o += "    # HTTP health: the probe iterc put in the image, on the "
         "container port " +
         healthPort(s) + (s.ports.empty() ? " (none is declared)" : "") +
         ".\n";
  } else {
    std::string url = "http://127.0.0.1:" + healthPort(s) + h.http;
    std::string q = shellQuote(url);
    test.push_back("CMD-SHELL");
    test.push_back("wget -q -O /dev/null " + q + " || curl -fsS -o /dev/null " +
                   q + " || exit 1");
    o += "    # HTTP health: wget or curl inside the service's own image, on "
         "the\n";
    o += "    # container port " + healthPort(s) +
         (s.ports.empty() ? " (no port is declared; 80 is assumed)" : "") +
         ".\n";
  }
  o += "    healthcheck:\n";
  o += "      test: " + composeList(test) + "\n";
  o += "      interval: " + yamlQuote(duration(h.intervalMs)) + "\n";
  o += "      timeout: " + yamlQuote(duration(h.timeoutMs)) + "\n";
  o += "      retries: " + std::to_string(h.retries) + "\n";
}

void emitService(const ir::Module &m, const ir::Service &s,
                 const std::string &network, std::string &o) {
  if (isProgram(s)) {
    o += "  # " + commentText(s.name) + ": program " + commentText(s.program) +
         " is a process on the host, not a\n";
    o += "  # container; it is left out of this file.\n";
    return;
  }
  o += "  " + yamlQuote(composeKey(s.name)) + ":\n";
  if (!s.image.empty()) {
    o += "    image: " + composeQuote(s.image) + "\n";
  } else {
    std::string packaged = packagedServiceDir(s);
    if (!packaged.empty()) {
      o += "    # Built from " + packaged +
           "/: the Dockerfile iterc generated (FROM scratch),\n";
      o += "    # the program " + commentText(s.program) + " of " +
           commentText(s.buildContext) +
           (usesHealthProbe(s) ? " and the health probe" : "") +
           ", which `iterc build --context`\n";
      o += "    # copies there.\n";
      o += "    build:\n";
      o += "      context: " + composeQuote(packaged) + "\n";
      o += "      dockerfile: \"Dockerfile\"\n";
    } else {
      o += "    build:\n";
      o += "      context: " + composeQuote(s.buildContext) + "\n";
      if (!s.dockerfile.empty())
        o += "      dockerfile: " + composeQuote(s.dockerfile) + "\n";
    }
  }
  if (!s.command.empty())
    o += "    command: " + composeList(s.command) + "\n";
  if (!s.ports.empty()) {
    o += "    ports:\n";
    for (const std::string &p : s.ports)
      o += "      - " + composeQuote(p) + "\n";
  }
  if (!s.env.empty()) {
    // Declaration order; a repeated name keeps its first place and its last
    // value (a YAML mapping cannot hold a key twice).
    std::vector<std::pair<std::string, std::string>> env;
    for (const auto &[key, value] : s.env) {
      auto it = std::find_if(env.begin(), env.end(),
                             [&](const auto &e) { return e.first == key; });
      if (it != env.end())
        it->second = value;
      else
        env.emplace_back(key, value);
    }
    o += "    environment:\n";
    for (const auto &[key, value] : env)
      o += "      " + yamlQuote(key) + ": " + composeQuote(value) + "\n";
  }
  if (!s.workdir.empty())
    o += "    working_dir: " + composeQuote(s.workdir) + "\n";
  if (s.restart == "always")
    o += "    restart: always\n";
  else if (s.restart == "on-failure")
    o += "    restart: " +
         yamlQuote("on-failure:" + std::to_string(s.maxRestarts)) + "\n";
  o += "    networks: [" + yamlQuote(network) + "]\n";
  emitDependsOn(m, s.dependsOn, "    ", o);
  if (hasHealthTest(s))
    emitHealthcheck(s, o);
}

/// Whether compose starts services for the runner: those with a container
/// form. A workflow with none (only `program` services) runs its services
/// itself, so its runner keeps the local stack runtime.
bool composeRunsServices(const ir::Module &m) {
  return std::any_of(m.services.begin(), m.services.end(),
                     [](const ir::Service &s) {
                       return !s.image.empty() || !s.buildContext.empty();
                     });
}

} // namespace

std::string codegen::emitCompose(const ir::Module &m, const EmitContext &ctx) {
  const std::string name = programName(ctx);
  const std::string runner = runnerKey(m, ctx);
  const std::string network = composeKey(m.workflow.name);
  std::string o;
  o += "# " + headerText(ctx) + "\n";
  o += "#\n";
  o += "# The runner of workflow " + commentText(m.workflow.name) +
       " and the services it declares.\n";
  o += "#   docker compose -p " + name + " run --rm " + runner +
       " run --var ...   (or docker-compose)\n";
  o += "# The runner's image is built from this directory, which must hold "
       "the\n";
  o += "# executable " + name +
       " and ca-certificates.crt (see the Dockerfile). The\n";
  o += "# services' build contexts are copied from the source as written;\n";
  o += "# Compose resolves them relative to this file's directory.\n";
  o += "# Provider keys and ${NAME} references pass through from the host "
       "by\n";
  o += "# name only; no value is written here.\n";
  o += "# The runner and the services share the network " +
       commentText(network) + ".\n";
  bool external = composeRunsServices(m);
  if (external) {
    o += "# The runner has ITERC_STACK=external: compose starts the services, "
         "and\n";
    o += "# the runner reaches each by its name on its container port.\n";
  }
  o += "services:\n";
  o += "  " + yamlQuote(runner) + ":\n";
  o += "    build:\n";
  o += "      context: \".\"\n";
  o += "      dockerfile: \"Dockerfile\"\n";
  o += "    image: " + yamlQuote(imageName(ctx)) + "\n";
  o += "    environment:\n";
  if (external)
    o += "      - \"ITERC_STACK=external\"\n";
  for (const std::string &env : runnerEnvironment(m))
    o += "      - " + yamlQuote(env) + "\n";
  o += "    volumes:\n";
  o += "      - \"runs:" + std::string(kStoreDir) + "\"\n";
  o += "      - \"workspace:" + std::string(kWorkspaceDir) + "\"\n";
  o += "    networks: [" + yamlQuote(network) + "]\n";
  emitDependsOn(m, m.workflow.services, "    ", o);
  for (const ir::Service &s : m.services)
    emitService(m, s, network, o);
  o += "networks:\n";
  o += "  " + yamlQuote(network) + ": {}\n";
  o += "volumes:\n";
  o += "  \"runs\": {}\n";
  o += "  \"workspace\": {}\n";
  return o;
}

//===----------------------------------------------------------------------===//
// README.md
//===----------------------------------------------------------------------===//

std::string codegen::emitReadme(const ir::Module &m, const EmitContext &ctx) {
  const std::string name = programName(ctx);
  const std::string source = displaySource(ctx);
  const ir::Workflow &wf = m.workflow;
  const std::string exe = "./" + name;

  // An HTML comment cannot hold "--".
  std::string header = headerText(ctx);
  for (size_t at; (at = header.find("--")) != std::string::npos;)
    header.replace(at, 2, "- -");

  // Providers by model prefix, and the variables a run needs.
  std::map<std::string, std::vector<std::string>> providers;
  std::vector<std::string> envModels;
  for (const ir::Node &n : wf.nodes) {
    std::string model = nodeModel(n);
    if (!n.callsModel())
      continue;
    std::string provider = providerOf(model);
    if (!provider.empty())
      providers[provider].push_back(n.name);
    if (model.find("${") != std::string::npos)
      envModels.push_back(n.name);
  }
  std::map<std::string, std::vector<std::string>> refs = collectEnvRefs(m);
  std::set<std::string> needed;
  for (const auto &[provider, nodes] : providers)
    if (const ProviderEnv *p = findProvider(provider))
      needed.insert(p->key ? p->key : p->baseUrl);
  for (const auto &[env, places] : refs)
    needed.insert(env);

  std::string o;
  o += "<!-- " + header + " -->\n";
  o += "# " + commentText(wf.name) + "\n";
  o += "\n";
  o += "The LLM workflow " + code(wf.name) + ", compiled by iterc " +
       code(ctx.itercVersion) + " into one static executable, " + code(name) +
       ".\n";
  o += "\n";
  o += "- Source: " + code(source) + "\n";
  o += "- Source sha256: " + code(ctx.sourceSha256) + "\n";
  o += "\n";

  // Build.
  o += "## Build\n";
  o += "\n";
  o += "```sh\n";
  o += "iterc build " + shellQuote(source) + " -o " + name + "\n";
  o += "```\n";
  o += "\n";
  o += "Without iterc, from this directory, against an installed iterc "
       "runtime:\n";
  o += "\n";
  o += "```sh\n";
  o += "cmake -S . -B build && cmake --build build\n";
  o += "```\n";
  o += "\n";
  o += code(exe + " --version") +
       " prints the iterc version and the source sha256.\n";
  o += "\n";

  // Run.
  o += "## Run\n";
  o += "\n";
  std::string required;
  for (const ir::Var &v : m.vars)
    if (!v.hasDefault)
      required += " --var " + shellQuote(v.name + "=" + placeholder(v));
  // Commands with their comments aligned in one column.
  std::vector<std::pair<std::string, std::string>> commands = {
      {exe + " run" + required, ""},
      {exe + " run" + required + " --dry-run",
       "print the plan; no model, tool or server is called"},
      {exe + " run" + required + " --json",
       "JSON events, then a result line, on stdout"},
      {exe + " run" + required + " --record FILE",
       "call the providers and record a cassette"},
      {exe + " run" + required + " --cassette FILE",
       "replay a cassette: no network, no key"},
      {exe + " run" + required + " --store-dir DIR --run-id ID",
       "name the store and the run"},
      {exe + " inspect", "the runs in the store"},
      {exe + " inspect --run-id ID --events", "one run and its events"},
      {exe + " report --run-id ID -o report.md", "a Markdown report of a run"},
      {exe + " graph --format=mermaid", "or --format=dot"},
      {exe + " --version", "iterc version and source sha256"},
      {exe + " --help", "every command and option"},
  };
  if (!m.presets.empty())
    commands.insert(commands.begin() + 1,
                    {exe + " run" + required + " --preset " +
                         shellQuote(m.presets.front().name),
                     "start from a preset"});
  size_t column = 0;
  for (const auto &[command, comment] : commands)
    column = std::max(column, command.size());
  o += "```sh\n";
  for (const auto &[command, comment] : commands) {
    o += command;
    if (!comment.empty())
      o += std::string(column - command.size() + 2, ' ') + "# " + comment;
    o += "\n";
  }
  o += "```\n";
  o += "\n";
  o += "Runs are stored under " + code("--store-dir") + " (default " +
       code("$ITERC_STORE_DIR") + ", else " + code(".iterc") +
       "); tools run in\n";
  o += code("--workspace") + " (default " + code(".") +
       "). The container image sets " +
       code(std::string("ITERC_STORE_DIR=") + kStoreDir) + ".\n";
  o += "\n";

  // Variables.
  o += "### Variables\n";
  o += "\n";
  if (m.vars.empty()) {
    o += "The workflow declares no variables.\n";
  } else {
    o += "Set with " + code("--var name=value") +
         "; precedence: " + code("--var") + " > " + code("--preset") +
         " > default.\n";
    o += "\n";
    o += "| variable | type | default |\n";
    o += "| --- | --- | --- |\n";
    for (const ir::Var &v : m.vars) {
      std::string dflt;
      if (v.secret)
        dflt = v.hasDefault ? "*secret: not shown*" : "required (*secret*)";
      else if (v.hasDefault)
        dflt = code(jsonText(v.defaultValue));
      else
        dflt = "required";
      o += "| " + code(v.name) + " | " + code(typeText(v)) + " | " + dflt +
           " |\n";
    }
    bool anySecret = std::any_of(m.vars.begin(), m.vars.end(),
                                 [](const ir::Var &v) { return v.secret; });
    if (anySecret) {
      o += "\n";
      o += "Secret variables never reach events, artifacts or logs; pass "
           "them from the\n";
      o += "environment, e.g. " + code("--var \"token=$TOKEN\"") + ".\n";
    }
  }
  o += "\n";

  // Presets.
  if (!m.presets.empty()) {
    o += "### Presets\n";
    o += "\n";
    o += "Select with " + code("--preset NAME") + ".\n";
    o += "\n";
    for (const ir::Preset &p : m.presets) {
      o += "- " + code(p.name) + ":";
      for (size_t i = 0; i < p.values.size(); ++i) {
        const auto &[var, value] = p.values[i];
        int vi = m.findVar(var);
        bool secret = vi >= 0 && m.vars[vi].secret;
        o += (i ? ", " : " ") + (secret ? code(var) + " = *secret*"
                                        : code(var + " = " + jsonText(value)));
      }
      o += "\n";
    }
    o += "\n";
  }

  // Human gates.
  std::vector<const ir::Node *> gates;
  for (const ir::Node &n : wf.nodes)
    if (pausesForHuman(n))
      gates.push_back(&n);
  if (!gates.empty()) {
    o += "### Human gates\n";
    o += "\n";
    o += "The run pauses (exit code 3) when a person must answer. Answer "
         "with the\n";
    o += "fields of the gate's schema and continue:\n";
    o += "\n";
    o += "```sh\n";
    for (const ir::Node *n : gates) {
      if (n->kind == ir::NodeKind::Tool || n->output < 0)
        continue;
      std::string answers;
      for (const ir::Field &f : m.schemas[n->output].fields)
        answers += " --answer " +
                   shellQuote(f.name + "=<" + ir::typeName(f.type) + ">");
      o += exe + " resume --run-id ID" + answers + "  # " + n->name + "\n";
    }
    o += exe + " inspect --run-id ID  # the pending questions\n";
    o += "```\n";
    o += "\n";
    for (const ir::Node *n : gates) {
      if (n->kind == ir::NodeKind::Tool) {
        o += "- " + code(n->name) +
             ": tool; a person approves the command before it runs\n";
        continue;
      }
      o += "- " + code(n->name) + ": " + ir::interactionName(n->interaction);
      if (n->output >= 0) {
        const ir::Schema &s = m.schemas[n->output];
        o += "; answers";
        for (size_t i = 0; i < s.fields.size(); ++i)
          o += (i ? ", " : " ") + code(s.fields[i].name) + " (" +
               ir::typeName(s.fields[i].type) + ")";
      }
      o += "\n";
    }
    o += "\n";
  }

  // Environment.
  o += "## Environment\n";
  o += "\n";
  auto nodeList = [](const std::vector<std::string> &names) {
    std::string s;
    for (size_t i = 0; i < names.size(); ++i)
      s += (i ? ", " : "") + code(names[i]);
    return s;
  };
  if (providers.empty() && refs.empty()) {
    o += "The workflow needs no environment variable.\n";
  } else {
    o += "| variable | needed for |\n";
    o += "| --- | --- |\n";
    for (const auto &[provider, nodes] : providers) {
      const ProviderEnv *p = findProvider(provider);
      if (!p) {
        o += "| | models " + code(provider + "/...") + " (" + nodeList(nodes) +
             "): provider not known to iterc's runtime |\n";
        continue;
      }
      if (p->key)
        o += "| " + code(p->key) + " | models " + code(provider + "/...") +
             " (" + nodeList(nodes) + ") |\n";
      o += "| " + code(p->baseUrl) + " | " + p->urlHint + " |\n";
    }
    for (const auto &[env, places] : refs) {
      std::string where;
      for (size_t i = 0; i < places.size(); ++i)
        where += (i ? "; " : "") + places[i];
      o += "| " + code(env) + " | " + where + " |\n";
    }
  }
  if (!envModels.empty()) {
    o += "\n";
    o += "The environment can choose the model of " + nodeList(envModels) +
         "; set the key of the\n";
    o += "provider it names.\n";
  }
  o += "\n";

  // Exit codes.
  o += "## Exit codes\n";
  o += "\n";
  o += "| code | status |\n";
  o += "| --- | --- |\n";
  o += "| 0 | finished: the run reached `done` |\n";
  o += "| 1 | failed: it reached `fail`, or a provider, schema, tool, store or "
       "replay error stopped it |\n";
  o += "| 2 | usage error: unknown option, bad `--var` or `--answer`, missing "
       "variable or API key, unknown run id |\n";
  o += "| 3 | paused, waiting for a human: answer with `resume --answer` |\n";
  o += "| 4 | budget exceeded: `resume` with larger `--max-*` limits "
       "continues |\n";
  o += "| 5 | loop exhausted: a loop reached its cap and no other edge "
       "applied |\n";
  o += "| 6 | no progress: a loop stopped changing |\n";
  o += "| 7 | cancelled or interrupted |\n";
  o += "\n";

  // Container.
  const std::string runner = runnerKey(m, ctx);
  o += "## Container\n";
  o += "\n";
  const std::string &base = m.workflow.runnerImage;
  if (base.empty())
    o += "The " + code("Dockerfile") + " builds a " + code("FROM scratch") +
         " image: the static executable, a CA\n";
  else
    o += "The " + code("Dockerfile") + " builds an image on " + code(base) +
         " (" + code("runner_image") + "): the static executable, a CA\n";
  o += "bundle and nothing else. It runs as the non-root user " + code(kUser) +
       ", keeps\n";
  o += "its runs on the volume " + code(kStoreDir) + " and works in " +
       code(kWorkspaceDir) + ". The build context is a\n";
  o += "directory holding the executable " + code(name) + " and " +
       code(kCaBundle) + "; " + code("iterc build --context DIR") + "\n";
  o += "writes such a directory (the generated files, the executable, the "
       "host's\n";
  o += "CA bundle and what the services built here need):\n";
  o += "\n";
  bool hasTools = false;
  for (const ir::Node &n : m.workflow.nodes)
    hasTools = hasTools || n.kind == ir::NodeKind::Tool;
  if (hasTools && base.empty()) {
    o += "This workflow has tool nodes, which run their commands with " +
         code("/bin/sh") + " and\n";
    o += "the programs they name. A " + code("FROM scratch") +
         " image has neither: run it outside a\n";
    o += "container, or name a base image that has them with " +
         code("runner_image:") + " in the\n";
    o += "workflow.\n";
    o += "\n";
  } else if (hasTools) {
    o += "This workflow has tool nodes: their commands run with " +
         code("/bin/sh") + " of " + code(base) + "\n";
    o += "and the programs it has.\n";
    o += "\n";
  }
  o += "```sh\n";
  o += "iterc build " + ctx.sourcePath + " --context image && cd image\n";
  o += "docker build -t " + imageName(ctx) + " .   # or: podman build\n";
  std::string passEnv;
  for (const std::string &env : needed)
    passEnv += " -e " + env;
  o += "docker run --rm -v " + name + "-runs:" + kStoreDir + passEnv + " " +
       imageName(ctx) + " run" + required + "\n";
  o += "```\n";
  o += "\n";
  o += "With " + code("compose.yaml") + " (" + code("docker compose") +
       ", or Debian's " + code("docker-compose") + "),\n";
  o += "the services the workflow declares come up first, gated by their "
       "health\n";
  o += "checks; provider keys and the environment references above pass "
       "through\n";
  if (composeRunsServices(m)) {
    o += "from the host by name. The runner runs with " +
         code("ITERC_STACK=external") + " and reaches\n";
    o += "each service by its name on its container port, on the network " +
         code(composeKey(wf.name)) + ":\n";
  } else {
    o += "from the host by name. The runner is on the network " +
         code(composeKey(wf.name)) + ":\n";
  }
  o += "\n";
  o += "```sh\n";
  o += "docker compose -p " + name + " build\n";
  o += "docker compose -p " + name + " run --rm " + runner + " run" + required +
       "\n";
  if (!gates.empty())
    o += "docker compose -p " + name + " run --rm " + runner +
         " resume --run-id ID --answer key=value\n";
  o += "docker compose -p " + name + " down\n";
  o += "```\n";
  o += "\n";

  // Budget.
  o += "## Budget\n";
  o += "\n";
  const ir::Budget &b = wf.budget;
  std::string budget;
  if (b.maxCostUsd) {
    nlohmann::json cost = *b.maxCostUsd;
    budget += "- max cost: " + cost.dump() + " USD\n";
  }
  if (b.maxTokens)
    budget += "- max tokens: " + std::to_string(*b.maxTokens) + "\n";
  if (b.maxDurationMs)
    budget += "- max duration: " +
              (b.maxDurationText.empty() ? duration(*b.maxDurationMs)
                                         : b.maxDurationText) +
              "\n";
  if (b.maxIterations)
    budget += "- max iterations: " + std::to_string(*b.maxIterations) + "\n";
  if (b.maxParallelBranches)
    budget +=
        "- max parallel branches: " + std::to_string(*b.maxParallelBranches) +
        "\n";
  if (budget.empty())
    o += "No budget limit is declared.\n";
  else
    o += "Shared by every branch; the run stops with exit code 4 when a "
         "limit is reached.\n\n" +
         budget;
  o += "\n";

  // Services.
  if (!m.services.empty()) {
    o += "## Services\n";
    o += "\n";
    o += "| service | runs | ports | health | started by the workflow |\n";
    o += "| --- | --- | --- | --- | --- |\n";
    for (const ir::Service &s : m.services) {
      std::string runs;
      if (s.generatesDockerfile())
        runs = "build " + code(s.buildContext) + " with program " +
               code(s.program) + " (generated " +
               code(serviceDockerfilePath(s)) + ")";
      else if (!s.image.empty() || !s.buildContext.empty())
        runs = (!s.image.empty() ? "image " + code(s.image)
                                 : "build " + code(s.buildContext)) +
               (s.program.empty()
                    ? std::string()
                    : "; without containers, program " + code(s.program));
      else
        runs = "program " + code(s.program) + " (host; not in compose.yaml)";
      std::string ports;
      for (size_t i = 0; i < s.ports.size(); ++i)
        ports += (i ? ", " : "") + code(s.ports[i]);
      std::string health = "-";
      if (s.health && !s.health->http.empty())
        health = "HTTP " + code(s.health->http);
      else if (s.health && !s.health->command.empty()) {
        std::string cmd;
        for (size_t i = 0; i < s.health->command.size(); ++i)
          cmd += (i ? " " : "") + s.health->command[i];
        health = code(cmd);
      }
      bool started = std::find(wf.services.begin(), wf.services.end(),
                               s.name) != wf.services.end();
      o += "| " + code(s.name) + " | " + runs + " | " +
           (ports.empty() ? "-" : ports) + " | " + health + " | " +
           (started ? "yes" : "no") + " |\n";
    }
    o += "\n";
  }

  // Nodes.
  o += "## Nodes\n";
  o += "\n";
  o += "Entry: " + code(wf.nodes[wf.entry].name) + ".\n";
  o += "\n";
  o += "| node | kind | model |\n";
  o += "| --- | --- | --- |\n";
  for (const ir::Node &n : wf.nodes) {
    if (n.isTerminal())
      continue;
    std::string model = nodeModel(n);
    std::string cell = !n.callsModel() ? "-"
                       : model.empty() ? "(the run's default)"
                                       : code(model);
    o += "| " + code(n.name) + " | " + ir::nodeKindName(n.kind) + " | " + cell +
         " |\n";
  }
  o += "\n";

  // Graph.
  o += "## Graph\n";
  o += "\n";
  o += "```mermaid\n";
  o += printGraph(m, GraphFormat::Mermaid);
  o += "```\n";
  return o;
}
