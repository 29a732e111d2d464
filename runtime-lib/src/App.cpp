//===- App.cpp - The command line of a compiled workflow ------------------===//
//
// This file implements the dispatcher of a generated executable (`run`,
// `resume`, `inspect`, `report`, `graph`, `version`, `help`), its option
// parser with "did you mean" hints, the help texts, and the helpers the
// commands share: variable parsing by declared type, budget overrides,
// redaction and formatting. Dispatching touches nothing but the arguments:
// providers, transports and the store are built by the command that needs
// them, so `--version` and `--help` cost next to nothing.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"
#include "Interrupt.h"

#include "iterc/rt/Tool.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <unistd.h>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

const char *const kCommands[] = {"run",   "resume",  "inspect", "report",
                                 "graph", "version", "help"};

/// Optimal string alignment distance (a transposition costs 1).
size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (char &c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string out;
  for (const std::string &n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::vector<std::string> varNames(const WorkflowDesc &wf) {
  std::vector<std::string> names;
  for (const VarDesc &v : wf.vars)
    names.push_back(v.name);
  return names;
}

//===----------------------------------------------------------------------===//
// Help texts
//===----------------------------------------------------------------------===//

std::string exitStatusHelp() {
  return "exit status:\n"
         "  0  finished (other commands: success)\n"
         "  1  failed: the run reached 'fail', or a provider, schema, tool,\n"
         "     store or replay error (when resumable, the message says so)\n"
         "  2  usage error: unknown command or option, bad --var or --answer\n"
         "     value, missing variable, unknown run id\n"
         "  3  paused: waiting for a human; answer with 'resume --answer'\n"
         "  4  budget exceeded; 'resume' with larger --max-* limits\n"
         "  5  loop exhausted: a loop reached its cap with no other way out\n"
         "  6  no progress: a loop kept producing the same result\n"
         "  7  cancelled or interrupted\n"
         "  130 (143)  a second Ctrl-C (SIGTERM) stopped the run's tools; the\n"
         "     run is still recorded cancelled\n"
         "  8  run in use: another process is running or resuming this run\n";
}

std::string environmentHelp(const WorkflowDesc &wf) {
  std::string text =
      "environment:\n"
      "  ITERC_STORE_DIR     run store directory (default .iterc)\n"
      "  ITERC_CASSETTE      default for --cassette\n"
      "  ITERC_PRICES        JSON price table merged over the built-in one\n"
      "  OPENAI_API_KEY      key for openai/ models; OPENAI_BASE_URL points\n"
      "                      them at another OpenAI-compatible server\n"
      "  ANTHROPIC_API_KEY   key for anthropic/ models (ANTHROPIC_BASE_URL)\n"
      "  OPENROUTER_API_KEY  key for openrouter/ models (OPENROUTER_BASE_URL)\n"
      "  OLLAMA_BASE_URL     server for ollama/ models (default\n"
      "                      http://localhost:11434)\n"
      "  SSL_CERT_FILE       CA bundle for HTTPS\n"
      "  ITERC_CONNECT_TIMEOUT, ITERC_FIRST_BYTE_TIMEOUT, "
      "ITERC_REQUEST_TIMEOUT\n"
      "                      deadlines of each model request attempt\n"
      "                      (default 10s, 5m, 10m; a node's request_timeout\n"
      "                      wins)\n";
  if (!wf.stack.empty())
    text += "  ITERC_STACK         default for --stack\n"
            "  ITERC_CONTAINER_ENGINE  default for --container-engine\n"
            "  ITERC_CONTAINER_ARGS    arguments for every engine command, "
            "e.g.\n"
            "                      \"--runtime runc --storage-driver vfs\"\n"
            "  ITERC_CONTAINER_NETWORK host: services share the host's "
            "network\n"
            "                      (default: a network made for the run)\n"
            "  ITERC_SANDBOX       local runtime: auto (default), on, off\n";
  std::set<std::string> refs;
  for (const VarDesc &v : wf.vars)
    if (v.defaultValue && v.defaultValue->is_string())
      for (const std::string &r : envRefs(v.defaultValue->get<std::string>()))
        refs.insert(r);
  for (const NodeDesc &n : wf.nodes)
    for (const std::string *s :
         {&n.model, &n.interactionModel, &n.reasoningEffort})
      for (const std::string &r : envRefs(*s))
        refs.insert(r);
  if (!refs.empty())
    text += "  read by this workflow: " +
            joinNames(std::vector<std::string>(refs.begin(), refs.end())) +
            "\n";
  return text;
}

std::string describeVar(const VarDesc &v) {
  std::string text = typeName(v.type);
  if (!v.enumValues.empty())
    text += " (one of: " + joinNames(v.enumValues) + ")";
  if (v.secret)
    text += ", secret";
  if (!v.defaultValue) {
    text += ", required";
  } else if (v.secret) {
    std::vector<std::string> refs =
        v.defaultValue->is_string()
            ? envRefs(v.defaultValue->get<std::string>())
            : std::vector<std::string>();
    if (!refs.empty())
      text += ", default from $" + refs.front();
    else
      text += ", has a default";
  } else {
    text += ", default " + dumpJson(*v.defaultValue);
  }
  return text;
}

std::string variablesHelp(const WorkflowDesc &wf) {
  if (wf.vars.empty())
    return "This workflow declares no variables.\n";
  size_t width = 0;
  for (const VarDesc &v : wf.vars)
    width = std::max(width, v.name.size());
  std::string text = "variables of this workflow:\n";
  for (const VarDesc &v : wf.vars)
    text += "  " + v.name + std::string(width - v.name.size() + 2, ' ') +
            describeVar(v) + "\n";
  if (!wf.presets.empty()) {
    std::vector<std::string> names;
    for (const PresetDesc &p : wf.presets)
      names.push_back(p.name);
    text += "presets: " + joinNames(names) + "\n";
  }
  return text;
}

const char *budgetOptionsHelp =
    "  --max-tokens N       budget override: total tokens\n"
    "  --max-cost USD       budget override: total cost in US dollars\n"
    "  --max-duration D     budget override: wall time (90s, 10m, 1h30m,\n"
    "                       500ms; a bare number is seconds)\n"
    "  --max-iterations N   budget override: node executions\n";

/// The stack options, for a workflow that declares `services:`.
std::string stackOptionsHelp(const WorkflowDesc &wf) {
  if (wf.stack.empty())
    return "";
  return "  --stack MODE         how the services come up before the entry\n"
         "                       node (and go down when the run stops):\n"
         "                       local (each service's program as a child\n"
         "                       process, in a bubblewrap sandbox when\n"
         "                       installed; the default), container (docker\n"
         "                       or podman), external (already running,\n"
         "                       reached by name: docker compose), off\n"
         "  --container-engine E podman or docker (default: whichever is\n"
         "                       installed, podman first)\n";
}

const char *providerOptionsHelp =
    "  --cassette FILE      answer every model call from a cassette (no\n"
    "                       network); a call it lacks fails the run\n"
    "  --record FILE        call the real providers and write every\n"
    "                       exchange to FILE, a cassette for --cassette\n";

const char *approveOptionHelp =
    "  --approve TOOL       run the tool node TOOL (one with 'approval:\n"
    "                       required') without asking; repeatable; 'all'\n"
    "                       approves every such tool. Without it the run\n"
    "                       pauses (exit 3) for 'resume --answer "
    "approved=true'\n";

} // namespace

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

int iterc::rt::app::usageError(Ctx &ctx, const std::string &message,
                               const std::string &command) {
  ctx.io.err << ctx.prog << ": error: " << message << "\n";
  ctx.io.err << "run '" << ctx.prog << " "
             << (command.empty() ? "" : command + " ") << "--help' for usage\n";
  return ExitUsage;
}

int iterc::rt::app::errorExit(Ctx &ctx, const std::string &message, int code) {
  ctx.io.err << ctx.prog << ": error: " << message << "\n";
  return code;
}

void iterc::rt::app::warn(Ctx &ctx, const std::string &message) {
  ctx.io.err << ctx.prog << ": warning: " << message << "\n";
}

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

std::string Options::last(const std::string &name) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? std::string()
                                                  : it->second.back();
}

const std::vector<std::string> &Options::all(const std::string &name) const {
  static const std::vector<std::string> none;
  auto it = values.find(name);
  return it == values.end() ? none : it->second;
}

std::string
iterc::rt::app::closest(const std::string &word,
                        const std::vector<std::string> &candidates) {
  std::string best;
  size_t bestDistance = std::string::npos;
  for (const std::string &c : candidates) {
    size_t d = editDistance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  size_t allowed = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
  if (!best.empty() && bestDistance <= allowed)
    return best;
  // A unique candidate the word starts (e.g. "--store" for "--store-dir").
  std::string prefixed;
  for (const std::string &c : candidates)
    if (word.size() >= 3 && c.compare(0, word.size(), word) == 0) {
      if (!prefixed.empty())
        return "";
      prefixed = c;
    }
  return prefixed;
}

std::optional<Options>
iterc::rt::app::parseOptions(Ctx &ctx, const std::string &command,
                             const std::vector<std::string> &args, size_t start,
                             const std::vector<OptSpec> &specs) {
  Options opts;
  std::string problem;
  auto note = [&](const std::string &p) {
    if (problem.empty())
      problem = p;
  };
  for (size_t i = start; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (arg == "-h" || arg == "--help") {
      opts.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      note("unexpected argument '" + arg + "'" +
           (command.empty() ? "" : " for '" + command + "'") +
           " (options take the form --name value)");
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inlineValue;
    if (arg.compare(0, 2, "--") == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        inlineValue = arg.substr(eq + 1);
      }
    }
    const OptSpec *spec = nullptr;
    for (const OptSpec &s : specs)
      if (s.name == name || (!s.shortName.empty() && s.shortName == name))
        spec = &s;
    if (!spec) {
      std::vector<std::string> names = {"--help"};
      for (const OptSpec &s : specs)
        names.push_back(s.name);
      std::string hint = closest(name, names);
      note("unknown option '" + name + "'" +
           (command.empty() ? "" : " for '" + command + "'") +
           (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
      continue;
    }
    if (!spec->takesValue) {
      if (inlineValue)
        note("option '" + spec->name + "' takes no value");
      opts.values[spec->name].push_back("");
      continue;
    }
    if (inlineValue) {
      opts.values[spec->name].push_back(*inlineValue);
    } else if (i + 1 < args.size()) {
      opts.values[spec->name].push_back(args[++i]);
    } else {
      note("option '" + spec->name + "' needs a value");
    }
  }
  if (opts.help)
    return opts;
  if (!problem.empty()) {
    usageError(ctx, problem, command);
    return std::nullopt;
  }
  return opts;
}

//===----------------------------------------------------------------------===//
// Help
//===----------------------------------------------------------------------===//

std::string iterc::rt::app::mainHelp(Ctx &ctx) {
  const std::string &p = ctx.prog;
  std::string text =
      p + " - runs the workflow '" + ctx.wf.name + "'" +
      (ctx.info.sourcePath.empty()
           ? ""
           : " (compiled by iterc from " + ctx.info.sourcePath + ")") +
      "\n\n"
      "usage: " +
      p +
      " <command> [options]\n"
      "\n"
      "commands:\n"
      "  run       run the workflow from its entry node\n"
      "  resume    continue a paused, failed, budget-exceeded or interrupted "
      "run\n"
      "  inspect   list runs, or show one run (status, variables, pending\n"
      "            questions, events)\n"
      "  report    write a Markdown report of a run\n"
      "  graph     print the workflow graph (Mermaid or DOT)\n"
      "  version   print what this executable is and how it was built\n"
      "  help      show the help of a command ('" +
      p +
      " help run')\n"
      "\n"
      "options:\n"
      "  -h, --help   show this help (also '" +
      p +
      " <command> --help')\n"
      "  --version    same as 'version'\n"
      "\n"
      "Runs are recorded under the run store (--store-dir, default\n"
      "$ITERC_STORE_DIR or .iterc); a stopped run continues with 'resume'.\n"
      "\n";
  text += variablesHelp(ctx.wf) + "\n" + exitStatusHelp() + "\n" +
          environmentHelp(ctx.wf);
  return text;
}

std::string iterc::rt::app::commandHelp(Ctx &ctx, const std::string &command) {
  const std::string &p = ctx.prog;
  std::string indent(p.size() + 11, ' ');
  if (command == "run")
    return "usage: " + p +
           " run [--var NAME=VALUE]... [--preset NAME] [--store-dir DIR]\n" +
           indent + "[--run-id ID] [--workspace DIR] [--json] [--dry-run]\n" +
           indent + "[--cassette FILE | --record FILE] [--max-tokens N]\n" +
           indent +
           "[--max-cost USD] [--max-duration D] [--max-iterations N]\n"
           "\n"
           "Runs the workflow '" +
           ctx.wf.name +
           "' from its entry node. Every step is recorded in the\n"
           "run store, so a paused or stopped run continues with 'resume'.\n"
           "Progress goes to stderr; the summary (status, run id, outputs,\n"
           "tokens, cost) to stdout.\n"
           "\n"
           "options:\n"
           "  --var NAME=VALUE     set a variable (repeatable); VALUE is read "
           "as "
           "the\n"
           "                       variable's type: bool true/false, int, "
           "float,\n"
           "                       json, string[] as a JSON array or a comma "
           "list\n"
           "  --var-file NAME=PATH set a variable to the bytes of a file, final\n"
           "                       newline included (--var wins)\n"
           "  --preset NAME        start from a preset's values (--var wins)\n"
           "  --store-dir DIR      run store (default $ITERC_STORE_DIR or "
           ".iterc)\n"
           "  --run-id ID          name the run (default: generated)\n"
           "  --workspace DIR      where tools run and files are written "
           "(default .)\n"
           "  --json               print every event as one JSON line on "
           "stdout,\n"
           "                       then {\"type\":\"result\",...}; nothing "
           "else\n"
           "  --dry-run            print the plan (nodes, edges, loops, "
           "budget,\n"
           "                       variables, providers); call nothing, write\n"
           "                       nothing\n" +
           providerOptionsHelp + approveOptionHelp + stackOptionsHelp(ctx.wf) + budgetOptionsHelp +
           "  -h, --help           show this help\n"
           "\n" +
           variablesHelp(ctx.wf) + "\n" + exitStatusHelp() + "\n" +
           environmentHelp(ctx.wf);
  if (command == "resume")
    return "usage: " + p +
           " resume --run-id ID [--answer NAME=VALUE]... [--answers-file "
           "FILE]\n" +
           indent + "[--var NAME=VALUE]... [--store-dir DIR] [--json]\n" +
           indent + "[--cassette FILE | --record FILE] [--max-tokens N]\n" +
           indent +
           "[--max-cost USD] [--max-duration D] [--max-iterations N]\n"
           "\n"
           "Continues a run that paused at a human gate, failed with a\n"
           "resumable error, exceeded its budget or was interrupted. Steps\n"
           "already recorded are not executed again (no model is called twice\n"
           "for the same step): each recorded answer goes back to its own step\n"
           "only, and a step that failed on answers that do not match its\n"
           "schema asks the model again.\n"
           "\n"
           "options:\n"
           "  --run-id ID          the run to continue (see '" +
           p +
           " inspect')\n"
           "  --answer NAME=VALUE  answer a question of the pending human "
           "gate\n"
           "                       (repeatable); VALUE is JSON when it parses\n"
           "                       (true, 3, [\"a\"]), else a string; fields "
           "declared\n"
           "                       as string always take VALUE as it is\n"
           "  --answers-file FILE  answers as one JSON object (--answer wins):\n"
           "                       a regular file of at most 16 MiB, or -\n"
           "  --var NAME=VALUE     give a secret variable again (secrets are "
           "never\n"
           "                       stored) or override a variable\n"
           "  --var-file NAME=PATH the same, with the bytes of a file\n"
           "  --store-dir DIR      run store (default $ITERC_STORE_DIR or "
           ".iterc)\n"
           "  --json               events and the result as JSON lines on "
           "stdout\n" +
           providerOptionsHelp +
           "                       (on resume, added to an existing FILE)\n" +
           approveOptionHelp + stackOptionsHelp(ctx.wf) + budgetOptionsHelp +
           "                       (these let a budget-exceeded run go on)\n"
           "  -h, --help           show this help\n"
           "\n" +
           exitStatusHelp() + "\n" + environmentHelp(ctx.wf);
  if (command == "inspect")
    return "usage: " + p +
           " inspect [--run-id ID] [--events] [--prompts] [--json]\n"
           "          [--store-dir DIR]\n"
           "\n"
           "Without --run-id, lists the runs of this workflow, newest first\n"
           "(id, status, start time, last node). With --run-id, shows the "
           "run:\n"
           "status, variables, current or last node, error, usage, and the\n"
           "pending human interaction with its questions.\n"
           "\n"
           "options:\n"
           "  --run-id ID       the run to show\n"
           "  --events          print the run's event log (each model call\n"
           "                    with one line per message it sent)\n"
           "  --prompts         print the whole text each model call sent\n"
           "                    (secrets redacted)\n"
           "  --json            JSON instead of text (with --events: one "
           "event\n"
           "                    per line)\n"
           "  --store-dir DIR   run store (default $ITERC_STORE_DIR or "
           ".iterc)\n"
           "  -h, --help        show this help\n"
           "\n"
           "exit status: 0 success, 2 usage error or unknown run id\n";
  if (command == "report")
    return "usage: " + p +
           " report --run-id ID [--store-dir DIR] [-o FILE]\n"
           "\n"
           "Writes a Markdown report of a run: a summary (workflow, run id,\n"
           "status, duration, tokens in and out, cost), the timeline (one row\n"
           "per node execution with its start offset, duration, tokens, cost\n"
           "and outcome), loop iterations, budget warnings, errors and the\n"
           "final outputs. The same event log always gives the same report.\n"
           "\n"
           "options:\n"
           "  --run-id ID          the run to report on\n"
           "  --store-dir DIR      run store (default $ITERC_STORE_DIR or "
           ".iterc)\n"
           "  -o, --output FILE    write the report to FILE instead of stdout\n"
           "  -h, --help           show this help\n"
           "\n"
           "exit status: 0 success, 1 the report could not be written, 2 "
           "usage\n"
           "error or unknown run id\n";
  if (command == "graph")
    return "usage: " + p +
           " graph [--format=mermaid|dot]\n"
           "\n"
           "Prints the workflow graph: nodes by kind, conditions on edges,\n"
           "loops with their caps.\n"
           "\n"
           "options:\n"
           "  --format=mermaid   a Mermaid flowchart (default)\n"
           "  --format=dot       Graphviz DOT\n"
           "  -h, --help         show this help\n"
           "\n"
           "exit status: 0 success, 2 usage error\n";
  if (command == "version")
    return "usage: " + p + " version   (or " + p +
           " --version)\n"
           "\n"
           "Prints the executable's name, its workflow, the iterc version\n"
           "that built it, and the source file with its SHA-256.\n"
           "\n"
           "exit status: 0\n";
  if (command == "help")
    return "usage: " + p + " help [COMMAND]\n\nShows the help of COMMAND.\n";
  return "";
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

std::vector<std::string> iterc::rt::app::envRefs(const std::string &text) {
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '$' || text[i + 1] != '{')
      continue;
    size_t j = i + 2;
    while (
        j < text.size() &&
        (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_'))
      ++j;
    if (j > i + 2)
      names.push_back(text.substr(i + 2, j - i - 2));
  }
  return names;
}

const char *iterc::rt::app::typeName(FieldType type) {
  switch (type) {
  case FieldType::String:
    return "string";
  case FieldType::Bool:
    return "bool";
  case FieldType::Int:
    return "int";
  case FieldType::Float:
    return "float";
  case FieldType::Json:
    return "json";
  case FieldType::StringList:
    return "string[]";
  case FieldType::Files:
    return "files";
  }
  return "json";
}

const char *iterc::rt::app::kindName(NodeKind kind) {
  switch (kind) {
  case NodeKind::Agent:
    return "agent";
  case NodeKind::Judge:
    return "judge";
  case NodeKind::Router:
    return "router";
  case NodeKind::Join:
    return "join";
  case NodeKind::Human:
    return "human";
  case NodeKind::Tool:
    return "tool";
  case NodeKind::Compute:
    return "compute";
  case NodeKind::Verify:
    return "verify";
  case NodeKind::Done:
    return "done";
  case NodeKind::Fail:
    return "fail";
  }
  return "agent";
}

Expected<Json> iterc::rt::app::parseVarValue(const VarDesc &var,
                                             const std::string &text) {
  auto bad = [&](const std::string &expected) {
    return Error(ErrorCode::InvalidInput,
                 "variable '" + var.name + "' expects " + expected +
                     (var.secret ? "" : ", got '" + text + "'"));
  };
  auto checkEnum = [&](const std::string &item) -> std::optional<Error> {
    if (var.enumValues.empty() ||
        std::find(var.enumValues.begin(), var.enumValues.end(), item) !=
            var.enumValues.end())
      return std::nullopt;
    std::string hint = closest(item, var.enumValues);
    return Error(ErrorCode::InvalidInput,
                 "variable '" + var.name +
                     "' must be one of: " + joinNames(var.enumValues) +
                     (var.secret ? "" : "; got '" + item + "'") +
                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  };
  switch (var.type) {
  case FieldType::String:
    if (std::optional<Error> e = checkEnum(text))
      return *e;
    return Json(text);
  case FieldType::Bool: {
    std::string s = lower(trim(text));
    if (s == "true" || s == "1" || s == "yes")
      return Json(true);
    if (s == "false" || s == "0" || s == "no")
      return Json(false);
    return bad("a bool (true or false)");
  }
  case FieldType::Int: {
    std::string s = trim(text);
    errno = 0;
    char *end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno == ERANGE)
      return bad("an int");
    return Json(int64_t(n));
  }
  case FieldType::Float: {
    std::string s = trim(text);
    errno = 0;
    char *end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || errno == ERANGE || !std::isfinite(d))
      return bad("a float");
    return Json(d);
  }
  case FieldType::StringList: {
    std::string s = trim(text);
    Json list = Json::array();
    if (!s.empty() && s[0] == '[') {
      std::optional<Json> j = parseJson(s);
      if (!j || !j->is_array())
        return bad("a string list (a JSON array of strings or a comma list)");
      for (const Json &item : *j)
        if (!item.is_string())
          return bad("a string list (a JSON array of strings or a comma "
                     "list)");
      list = *j;
    } else {
      size_t pos = 0;
      while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        std::string item = trim(s.substr(
            pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (!item.empty())
          list.push_back(item);
        if (comma == std::string::npos)
          break;
        pos = comma + 1;
      }
    }
    for (const Json &item : list)
      if (std::optional<Error> e = checkEnum(item.get<std::string>()))
        return *e;
    return list;
  }
  case FieldType::Json: {
    std::string s = trim(text);
    std::optional<Json> j = parseJson(s);
    if (j)
      return *j;
    if (!s.empty() && (s[0] == '{' || s[0] == '['))
      return bad("json (this looks like JSON but does not parse)");
    return Json(text);
  }
  case FieldType::Files: {
    std::optional<Json> j = parseJson(trim(text));
    if (!j || !j->is_array())
      return bad("files (a JSON array of {\"path\", \"content\"} objects)");
    for (const Json &f : *j)
      if (!f.is_object() || !f.contains("path") || !f["path"].is_string())
        return bad("files (a JSON array of {\"path\", \"content\"} objects)");
    return *j;
  }
  }
  return Json(text);
}

Expected<std::map<std::string, ResolvedVar>>
iterc::rt::app::resolveVars(const WorkflowDesc &wf,
                            const std::vector<std::string> &varArgs,
                            const std::string &preset, bool requireAll) {
  std::map<std::string, ResolvedVar> vars;
  for (const VarDesc &v : wf.vars) {
    if (!v.defaultValue)
      continue;
    Json value = *v.defaultValue;
    if (value.is_string()) {
      std::string raw = value.get<std::string>();
      std::string expanded = expandEnv(raw);
      Expected<Json> parsed = parseVarValue(v, expanded);
      if (!parsed) {
        std::vector<std::string> refs = envRefs(raw);
        std::string from =
            refs.empty() ? std::string() : " (read from $" + refs.front() + ")";
        return Error(ErrorCode::InvalidInput,
                     "the default of variable '" + v.name + "'" + from +
                         " is not valid: " + parsed.error().message +
                         "; give it with --var " + v.name + "=...");
      }
      value = *parsed;
    }
    vars[v.name] = {value, "default"};
  }
  if (!preset.empty()) {
    const PresetDesc *found = nullptr;
    std::vector<std::string> names;
    for (const PresetDesc &p : wf.presets) {
      names.push_back(p.name);
      if (p.name == preset)
        found = &p;
    }
    if (!found) {
      std::string hint = closest(preset, names);
      return Error(ErrorCode::InvalidInput,
                   "no preset named '" + preset + "'" +
                       (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                       (names.empty()
                            ? " (this workflow has no presets)"
                            : " (presets: " + joinNames(names) + ")"));
    }
    for (const auto &[name, value] : found->values)
      vars[name] = {value, "preset " + preset};
  }
  for (const std::string &arg : varArgs) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(ErrorCode::InvalidInput,
                   "--var expects NAME=VALUE, got '" + arg + "'");
    std::string name = arg.substr(0, eq);
    const VarDesc *decl = nullptr;
    for (const VarDesc &v : wf.vars)
      if (v.name == name)
        decl = &v;
    if (!decl) {
      std::string hint = closest(name, varNames(wf));
      return Error(ErrorCode::InvalidInput,
                   "the workflow has no variable '" + name + "'" +
                       (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                       (wf.vars.empty()
                            ? " (it declares none)"
                            : " (variables: " + joinNames(varNames(wf)) + ")"));
    }
    Expected<Json> value = parseVarValue(*decl, arg.substr(eq + 1));
    if (!value)
      return value.error();
    vars[name] = {*value, "--var"};
  }
  // SecretMask cannot mask a value of 1 to 3 bytes without also hiding
  // ordinary text, so such a secret would reach the records as it is.
  auto tooShort = [](const std::string &secret) {
    return !secret.empty() && secret.size() < kMinSecretBytes;
  };
  auto refuse = [](const std::string &what, size_t size) {
    return Error(ErrorCode::InvalidInput,
                 what + " is " + std::to_string(size) +
                     (size == 1 ? " byte" : " bytes") +
                     " long: secrets shorter than " +
                     std::to_string(kMinSecretBytes) +
                     " bytes cannot be masked in what the run records and "
                     "prints; give a longer value");
  };
  Json values = Json::object();
  for (const auto &[name, var] : vars) {
    values[name] = var.value;
    auto decl = std::find_if(wf.vars.begin(), wf.vars.end(),
                             [&](const VarDesc &v) { return v.name == name; });
    std::string text = var.value.is_string() ? var.value.get<std::string>()
                                             : var.value.dump();
    if (decl != wf.vars.end() && decl->secret && tooShort(text))
      return refuse("the value of secret variable '" + name + "'",
                    text.size());
  }
  for (const std::string &secret : runSecrets(wf, values))
    if (tooShort(secret))
      return refuse("an environment value a secret variable reads, or a "
                    "provider API key,",
                    secret.size());
  if (requireAll) {
    std::vector<std::string> missing;
    for (const VarDesc &v : wf.vars)
      if (!vars.count(v.name))
        missing.push_back(v.name + " (" + typeName(v.type) + ")");
    if (!missing.empty())
      return Error(ErrorCode::InvalidInput,
                   std::string("missing required variable") +
                       (missing.size() > 1 ? "s: " : ": ") +
                       joinNames(missing) + "; give " +
                       (missing.size() > 1 ? "them" : "it") +
                       " with --var NAME=VALUE");
  }
  return vars;
}

std::optional<int64_t>
iterc::rt::app::parseDurationMs(const std::string &text) {
  std::string s = trim(text);
  if (s.empty())
    return std::nullopt;
  double total = 0;
  size_t i = 0;
  bool bare = true;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() &&
           (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'))
      ++i;
    if (i == start)
      return std::nullopt;
    char *end = nullptr;
    std::string number = s.substr(start, i - start);
    double value = std::strtod(number.c_str(), &end);
    if (*end)
      return std::nullopt;
    size_t unitStart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i])))
      ++i;
    std::string unit = s.substr(unitStart, i - unitStart);
    double scale;
    if (unit.empty()) {
      if (i < s.size() || !bare)
        return std::nullopt;
      scale = 1000; // a bare number is seconds
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m" || unit == "min") {
      scale = 60000;
    } else if (unit == "h") {
      scale = 3600000;
    } else {
      return std::nullopt;
    }
    bare = false;
    total += value * scale;
  }
  if (!(total > 0) || total > 9.2e15)
    return std::nullopt;
  return int64_t(std::llround(total));
}

Expected<std::optional<BudgetDesc>>
iterc::rt::app::budgetOverride(const WorkflowDesc &wf, const Options &opts) {
  BudgetDesc limits = wf.budget;
  bool any = false;
  auto positiveInt = [&](const std::string &name,
                         std::optional<int64_t> &slot) -> std::optional<Error> {
    if (!opts.has(name))
      return std::nullopt;
    std::string s = trim(opts.last(name));
    errno = 0;
    char *end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno == ERANGE || n <= 0)
      return Error(ErrorCode::InvalidInput,
                   name + " expects a positive integer, got '" +
                       opts.last(name) + "'");
    slot = int64_t(n);
    any = true;
    return std::nullopt;
  };
  if (std::optional<Error> e = positiveInt("--max-tokens", limits.maxTokens))
    return *e;
  if (std::optional<Error> e =
          positiveInt("--max-iterations", limits.maxIterations))
    return *e;
  if (opts.has("--max-cost")) {
    std::string s = trim(opts.last("--max-cost"));
    if (!s.empty() && s[0] == '$')
      s.erase(0, 1);
    char *end = nullptr;
    double usd = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !std::isfinite(usd) || usd <= 0)
      return Error(ErrorCode::InvalidInput,
                   "--max-cost expects an amount in US dollars (e.g. 2.50), "
                   "got '" +
                       opts.last("--max-cost") + "'");
    limits.maxCostUsd = usd;
    any = true;
  }
  if (opts.has("--max-duration")) {
    std::optional<int64_t> ms = parseDurationMs(opts.last("--max-duration"));
    if (!ms)
      return Error(ErrorCode::InvalidInput,
                   "--max-duration expects a duration such as 90s, 10m or "
                   "1h30m, got '" +
                       opts.last("--max-duration") + "'");
    limits.maxDurationMs = *ms;
    any = true;
  }
  if (!any)
    return std::optional<BudgetDesc>();
  return std::optional<BudgetDesc>(limits);
}

std::string iterc::rt::app::storeDirFor(const Options &opts) {
  if (opts.has("--store-dir") && !opts.last("--store-dir").empty())
    return opts.last("--store-dir");
  const char *env = std::getenv("ITERC_STORE_DIR");
  return env && *env ? std::string(env) : std::string(".iterc");
}

void Redactor::addSecrets(const WorkflowDesc &wf,
                          const std::map<std::string, ResolvedVar> &vars) {
  Json values = Json::object();
  for (const auto &[name, var] : vars)
    values[name] = var.value;
  for (const std::string &secret : runSecrets(wf, values)) {
    add(secret);
    files.add(secret);
  }
}

//===----------------------------------------------------------------------===//
// Formatting
//===----------------------------------------------------------------------===//

std::string iterc::rt::app::dumpJson(const Json &value, int indent) {
  return value.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string iterc::rt::app::shellWord(const std::string &value) {
  bool plain = !value.empty();
  for (char c : value)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) ||
                      std::string("_@%+=:,./-").find(c) != std::string::npos);
  return plain ? value : shellQuote(value);
}

std::string iterc::rt::app::formatCost(double usd) {
  char buf[64];
  if (usd == 0)
    return "$0.00";
  std::snprintf(buf, sizeof(buf), usd >= 0.01 ? "$%.4f" : "$%.6f", usd);
  return buf;
}

std::string iterc::rt::app::formatDuration(int64_t ms) {
  char buf[64];
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    std::snprintf(buf, sizeof(buf), "%lld ms", static_cast<long long>(ms));
  else if (ms < 60000)
    std::snprintf(buf, sizeof(buf), "%.1f s", double(ms) / 1000);
  else if (ms < 3600000)
    std::snprintf(buf, sizeof(buf), "%lld min %02lld s",
                  static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms / 1000 % 60));
  else
    std::snprintf(buf, sizeof(buf), "%lld h %02lld min",
                  static_cast<long long>(ms / 3600000),
                  static_cast<long long>(ms / 60000 % 60));
  return buf;
}

Json iterc::rt::app::withoutPrivate(const Json &value) {
  if (!value.is_object())
    return value;
  Json out = Json::object();
  for (auto it = value.begin(); it != value.end(); ++it)
    if (it.key().rfind('_', 0) != 0)
      out[it.key()] = it.value();
  return out;
}

int iterc::rt::app::exitCodeFor(RunStatus status) {
  switch (status) {
  case RunStatus::Finished:
    return ExitFinished;
  case RunStatus::Failed:
  case RunStatus::FailedResumable:
  case RunStatus::Running:
    return ExitFailed;
  case RunStatus::PausedWaitingHuman:
    return ExitPaused;
  case RunStatus::BudgetExceeded:
    return ExitBudget;
  case RunStatus::LoopExhausted:
    return ExitLoopExhausted;
  case RunStatus::NoProgress:
    return ExitNoProgress;
  case RunStatus::Cancelled:
    return ExitCancelled;
  }
  return ExitFailed;
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

namespace {

int cmdGraph(Ctx &ctx, const std::vector<std::string> &args) {
  std::optional<Options> opts =
      parseOptions(ctx, "graph", args, 1, {{"--format", true, ""}});
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "graph");
    return ExitFinished;
  }
  std::string format =
      opts->has("--format") ? opts->last("--format") : std::string("mermaid");
  if (format != "mermaid" && format != "dot") {
    std::string hint = closest(format, {"mermaid", "dot"});
    return usageError(
        ctx,
        "unknown graph format '" + format + "'; expected mermaid or dot" +
            (hint.empty() ? "" : " (did you mean '" + hint + "'?)"),
        "graph");
  }
  const std::string &graph =
      format == "dot" ? ctx.info.graphDot : ctx.info.graphMermaid;
  if (graph.empty())
    return errorExit(ctx, "this executable carries no " + format + " graph",
                     ExitFailed);
  ctx.io.out << graph;
  if (graph.back() != '\n')
    ctx.io.out << '\n';
  return ExitFinished;
}

int cmdVersion(Ctx &ctx, const std::vector<std::string> &args) {
  std::optional<Options> opts = parseOptions(ctx, "version", args, 1, {});
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "version");
    return ExitFinished;
  }
  ctx.io.out << ctx.prog << " (workflow " << ctx.wf.name << ") built by iterc "
             << ctx.wf.itercVersion << " from " << ctx.info.sourcePath
             << " sha256:" << ctx.wf.sourceSha256 << "\n";
  return ExitFinished;
}

int dispatch(Ctx &ctx, const std::vector<std::string> &args) {
  if (args.empty()) {
    ctx.io.err << mainHelp(ctx);
    return ExitUsage;
  }
  const std::string &command = args[0];
  if (command == "-h" || command == "--help") {
    ctx.io.out << mainHelp(ctx);
    return ExitFinished;
  }
  if (command == "help") {
    if (args.size() == 1) {
      ctx.io.out << mainHelp(ctx);
      return ExitFinished;
    }
    if (args.size() > 2)
      return usageError(ctx, "'help' takes one command name", "help");
    std::string help = commandHelp(ctx, args[1]);
    if (help.empty()) {
      std::vector<std::string> names(std::begin(kCommands),
                                     std::end(kCommands));
      std::string hint = closest(args[1], names);
      return usageError(
          ctx,
          "unknown command '" + args[1] + "'" +
              (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
          "");
    }
    ctx.io.out << help;
    return ExitFinished;
  }
  if (command == "--version" || command == "version")
    return cmdVersion(ctx, args);
  if (command == "run")
    return cmdRun(ctx, args);
  if (command == "resume")
    return cmdResume(ctx, args);
  if (command == "inspect")
    return cmdInspect(ctx, args);
  if (command == "report")
    return cmdReport(ctx, args);
  if (command == "graph")
    return cmdGraph(ctx, args);
  if (command == "__probe") // Not listed: for generated service images.
    return cmdProbe(ctx, args);
  if (command.size() > 1 && command[0] == '-') {
    std::string hint = closest(command, {"--help", "--version"});
    return usageError(
        ctx,
        "unknown option '" + command + "'" +
            (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
            "; a command comes first (run, resume, inspect, "
            "report, graph)",
        "");
  }
  std::vector<std::string> names(std::begin(kCommands), std::end(kCommands));
  std::string hint = closest(command, names);
  return usageError(ctx,
                    "unknown command '" + command + "'" +
                        (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
                    "");
}

} // namespace

Out &Out::write(const char *data, size_t size) {
  if (size > 0)
    writeFn(sink, data, size);
  return *this;
}

Out::Out(std::FILE *file)
    : sink(file), writeFn([](void *f, const char *data, size_t size) {
        std::fwrite(data, 1, size, static_cast<std::FILE *>(f));
      }),
      flushFn([](void *f) { std::fflush(static_cast<std::FILE *>(f)); }) {}

int iterc::rt::app::runApp(const WorkflowDesc &wf, const AppInfo &info,
                           const std::vector<std::string> &args, Io &io) {
  std::string prog = "workflow";
  try {
    prog = !info.programName.empty() ? info.programName
           : !wf.name.empty()        ? wf.name
                                     : "workflow";
    Ctx ctx{wf, info, io, prog, io.invocation.empty() ? prog : io.invocation};
    int code = dispatch(ctx, args);
    io.out.flush();
    io.err.flush();
    return code;
  } catch (const std::exception &e) {
    io.err << prog << ": error: internal error: " << e.what() << "\n";
  } catch (...) {
    io.err << prog << ": error: internal error\n";
  }
  io.err.flush();
  return ExitFailed;
}

int iterc::rt::appMain(const WorkflowDesc &wf, const AppInfo &info, int argc,
                       char **argv) {
  try {
    const std::atomic<bool> *interrupted = installInterruptHandlers();
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i)
      args.emplace_back(argv[i] ? argv[i] : "");
    // stdout and stderr directly: what std::cout and std::cerr (synced
    // with stdio) write through, without linking <iostream>.
    Out out(stdout), err(stderr);
    Io io{out, err, ::isatty(STDERR_FILENO) != 0,
          argc > 0 && argv[0] ? std::string(argv[0]) : std::string(),
          interrupted};
    return interruptedExitCode(runApp(wf, info, args, io));
  } catch (...) {
    std::fputs("error: internal error\n", stderr);
    return ExitFailed;
  }
}
