//===- AppRun.cpp - The run and resume commands ---------------------------===//
//
// This file implements `run` (with `--dry-run`) and `resume`: checking the
// variables, answers and budget overrides before anything starts, choosing
// the providers the workflow's models need (the real ones from the
// environment, a cassette, or the real ones under a recorder), connecting
// the MCP servers nodes use, running the engine with a progress display,
// and printing the outcome: a human summary, or JSON lines on stdout.
//
//===----------------------------------------------------------------------===//
#include "AnswersInput.h"
#include "AppInternal.h"
#include "CallRecords.h"
#include "FileText.h"

#include "iterc/rt/Engine.h"
#include "iterc/rt/Mcp.h"
#include "iterc/rt/RunLock.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

const char *const kBudgetOptions[] = {"--max-tokens", "--max-cost",
                                      "--max-duration", "--max-iterations"};

/// Approves the tools named by --approve (or all of them with `all`);
/// the engine pauses for a person on any other tool that needs approval.
class FlagApprover : public Approver {
public:
  bool all = false;
  std::set<std::string> nodes;
  bool approve(const std::string &node, const std::string &) override {
    return all || nodes.count(node) != 0;
  }
};

/// Reads --approve: NODE (a tool with `approval: required`) or `all`.
Expected<FlagApprover> approverFrom(const WorkflowDesc &wf,
                                    const Options &opts) {
  FlagApprover approver;
  for (const std::string &name : opts.all("--approve")) {
    if (name == "all") {
      approver.all = true;
      continue;
    }
    int index = wf.findNode(name);
    if (index < 0 || wf.nodes[size_t(index)].kind != NodeKind::Tool ||
        !wf.nodes[size_t(index)].approval) {
      std::string tools;
      for (const NodeDesc &n : wf.nodes)
        if (n.kind == NodeKind::Tool && n.approval)
          tools += (tools.empty() ? "" : ", ") + n.name;
      return Error(ErrorCode::InvalidInput,
                   "--approve " + name + ": not a tool that needs approval (" +
                       (tools.empty() ? "this workflow has none"
                                      : "those are: " + tools) +
                       "; or 'all')");
    }
    approver.nodes.insert(name);
  }
  return approver;
}

std::vector<OptSpec> runSpecs() {
  std::vector<OptSpec> specs = {
      {"--var", true, ""},       {"--var-file", true, ""},
      {"--preset", true, ""},
      {"--store-dir", true, ""}, {"--run-id", true, ""},
      {"--workspace", true, ""}, {"--json", false, ""},
      {"--dry-run", false, ""},  {"--cassette", true, ""},
      {"--record", true, ""},    {"--approve", true, ""},
      {"--stack", true, ""},     {"--container-engine", true, ""}};
  for (const char *name : kBudgetOptions)
    specs.push_back({name, true, ""});
  return specs;
}

std::vector<OptSpec> resumeSpecs() {
  std::vector<OptSpec> specs = {
      {"--run-id", true, ""},          {"--answer", true, ""},
      {"--answers-file", true, ""},    {"--var", true, ""},
      {"--var-file", true, ""},
      {"--store-dir", true, ""},       {"--json", false, ""},
      {"--cassette", true, ""},        {"--record", true, ""},
      {"--approve", true, ""},         {"--stack", true, ""},
      {"--container-engine", true, ""}};
  for (const char *name : kBudgetOptions)
    specs.push_back({name, true, ""});
  return specs;
}

std::string joinList(const std::vector<std::string> &items) {
  std::string out;
  for (const std::string &s : items)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::optional<std::string> readFile(const std::string &path,
                                    std::string &error) {
  std::optional<std::string> text = readFileText(path);
  if (!text)
    error = std::strerror(errno);
  return text;
}

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

//===----------------------------------------------------------------------===//
// Models and providers
//===----------------------------------------------------------------------===//

struct ModelUse {
  std::string node;
  std::string raw;    ///< As declared (may hold ${ENV}).
  std::string model;  ///< Expanded.
  std::string prefix; ///< openai, anthropic, ...
};

Expected<std::vector<ModelUse>> modelUses(const WorkflowDesc &wf) {
  std::vector<ModelUse> uses;
  for (const NodeDesc &n : wf.nodes) {
    if (!callsModel(n))
      continue;
    ModelUse use;
    use.node = n.name;
    use.raw = n.model.empty() ? n.interactionModel : n.model;
    use.model = expandEnv(use.raw);
    Expected<std::pair<std::string, std::string>> split = splitModel(use.model);
    if (!split)
      return Error(
          ErrorCode::InvalidInput,
          "node '" + n.name + "': " +
              (use.raw != use.model
                   ? "model '" + use.raw + "' reads as '" + use.model + "': "
                   : std::string()) +
              split.error().message);
    use.prefix = split->first;
    uses.push_back(use);
  }
  return uses;
}

struct ProviderInfo {
  std::string prefix;
  std::string baseUrl;
  std::string keyVar; ///< "" when the provider needs no key.
  std::string baseVar;
  bool keySet = false;
  bool baseSet = false;
  std::vector<std::string> nodes;

  /// Whether a provider can be built: a key, or an explicit endpoint that
  /// may need none (a local OpenAI-compatible server).
  bool configured() const { return keyVar.empty() || keySet || baseSet; }
};

bool envSet(const std::string &name) {
  const char *v = std::getenv(name.c_str());
  return v && *v;
}

/// The real providers the models need, in first-use order (not `replay`).
std::vector<ProviderInfo> providerInfos(const std::vector<ModelUse> &uses) {
  std::vector<ProviderInfo> infos;
  for (const ModelUse &use : uses) {
    if (use.prefix == "replay")
      continue;
    auto it =
        std::find_if(infos.begin(), infos.end(), [&](const ProviderInfo &i) {
          return i.prefix == use.prefix;
        });
    if (it == infos.end()) {
      ProviderInfo info;
      info.prefix = use.prefix;
      info.baseUrl = providerConfigFromEnv(use.prefix).baseUrl;
      if (use.prefix == "openai") {
        info.keyVar = "OPENAI_API_KEY";
        info.baseVar = "OPENAI_BASE_URL";
      } else if (use.prefix == "anthropic") {
        info.keyVar = "ANTHROPIC_API_KEY";
        info.baseVar = "ANTHROPIC_BASE_URL";
      } else if (use.prefix == "openrouter") {
        info.keyVar = "OPENROUTER_API_KEY";
        info.baseVar = "OPENROUTER_BASE_URL";
      } else {
        info.baseVar = "OLLAMA_BASE_URL";
      }
      info.keySet = !info.keyVar.empty() && envSet(info.keyVar);
      info.baseSet = envSet(info.baseVar);
      infos.push_back(info);
      it = infos.end() - 1;
    }
    if (std::find(it->nodes.begin(), it->nodes.end(), use.node) ==
        it->nodes.end())
      it->nodes.push_back(use.node);
  }
  return infos;
}

/// Why a model of the workflow has no provider (a key or base URL not set,
/// a replay/ model without a cassette), or empty when every one has one.
/// run, its dry run and resume refuse the same way (exit 2).
std::string missingProvider(const std::vector<ModelUse> &uses,
                            const std::string &cassette) {
  if (!cassette.empty())
    return "";
  std::vector<ProviderInfo> infos = providerInfos(uses);
  for (const ModelUse &use : uses) {
    if (use.prefix == "replay")
      return "node '" + use.node + "' uses model '" + use.model +
             "', which answers only from a cassette: give --cassette FILE";
    for (const ProviderInfo &info : infos)
      if (info.prefix == use.prefix && !info.configured())
        return "node '" + use.node + "' uses model '" + use.model + "': set " +
               info.keyVar + " (or " + info.baseVar +
               " for a server that needs no key), or replay a cassette with "
               "--cassette FILE";
  }
  return "";
}

/// Why a cost limit cannot be kept: a model without a price (or an
/// unreadable ITERC_PRICES). run, its dry run and resume refuse alike
/// (exit 2), before anything runs.
std::string missingPrice(const WorkflowDesc &wf, const BudgetDesc &limits) {
  if (!limits.maxCostUsd)
    return "";
  Expected<PriceTable> prices = PriceTable::fromEnvironment();
  if (!prices)
    return prices.error().message;
  return unpricedModel(wf, limits, *prices);
}

/// The MCP servers some node uses (by `mcp_servers` or an `mcp.<server>.`
/// tool), in declaration order.
std::vector<McpServerConfig> mcpConfigs(const WorkflowDesc &wf) {
  std::set<std::string> used;
  bool all = false;
  for (const NodeDesc &n : wf.nodes) {
    for (const std::string &s : n.mcpServers)
      used.insert(s);
    for (const std::string &t : n.tools) {
      if (t.rfind("mcp.", 0) != 0)
        continue;
      std::string rest = t.substr(4);
      std::string server = rest.substr(0, rest.find('.'));
      if (server == "*" || server.empty())
        all = true;
      else
        used.insert(server);
    }
  }
  std::vector<McpServerConfig> configs;
  for (const McpServerDesc &d : wf.mcpServers) {
    if (!all && !used.count(d.name))
      continue;
    McpServerConfig c;
    c.name = d.name;
    c.transport = d.transport;
    c.command = d.command;
    c.args = d.args;
    c.url = d.url;
    configs.push_back(c);
  }
  return configs;
}

/// Sends each request to the real provider of its prefix; what a recorder
/// wraps, so that one cassette holds every provider's calls.
class PrefixRouter : public LlmProvider {
public:
  explicit PrefixRouter(ProviderSet &set) : set(set) {}
  Expected<LlmResponse> complete(const LlmRequest &request) override {
    Expected<LlmProvider *> provider = set.forModel(request.provider);
    if (!provider)
      return provider.error();
    return (*provider)->complete(request);
  }

private:
  ProviderSet &set;
};

/// Everything a run talks to besides the store.
/// How the workflow's services run: --stack, else ITERC_STACK, else local.
struct StackChoice {
  std::string mode = "local"; ///< local, container, external or off.
  std::string engine;         ///< --container-engine / ITERC_CONTAINER_ENGINE.
};

Expected<StackChoice> stackChoice(const Options &opts) {
  StackChoice c;
  if (opts.has("--stack"))
    c.mode = opts.last("--stack");
  else if (const char *env = std::getenv("ITERC_STACK"); env && *env)
    c.mode = env;
  if (c.mode != "local" && c.mode != "container" && c.mode != "external" &&
      c.mode != "off")
    return Error(ErrorCode::InvalidInput,
                 "unknown stack runtime '" + c.mode +
                     "' (--stack or ITERC_STACK): use local, container, "
                     "external or off");
  if (opts.has("--container-engine"))
    c.engine = opts.last("--container-engine");
  else if (const char *env = std::getenv("ITERC_CONTAINER_ENGINE"))
    c.engine = env;
  return c;
}

/// A name containers and networks accept: [a-z0-9_.-], starting with a
/// letter or digit.
std::string containerName(const std::string &text) {
  std::string out;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    out += std::isalnum(c)                      ? char(std::tolower(c))
           : (c == '-' || c == '_' || c == '.') ? ch
                                                : '-';
  }
  if (out.empty() || !std::isalnum(static_cast<unsigned char>(out[0])))
    out = "x" + out;
  return out;
}

/// What EngineDeps::stack calls when the run brings its services up: the
/// chosen runtime, with the services' logs (and generated Dockerfiles) in
/// <store>/runs/<id>/services/.
std::function<Expected<std::unique_ptr<StackRuntime>>(const std::string &)>
stackFactory(const WorkflowDesc &wf, const StackChoice &choice,
             const std::string &storeDir, const std::string &workspace,
             HttpTransport &http) {
  if (wf.services.empty() || choice.mode == "off")
    return nullptr;
  return
      [&wf, choice, storeDir, workspace, &http](
          const std::string &runId) -> Expected<std::unique_ptr<StackRuntime>> {
        if (choice.mode == "external")
          return makeExternalRuntime(wf.services);
        std::string logDir = storeDir + "/runs/" + runId + "/services";
        if (Status made = makeDirectories(logDir); !made)
          return made.error();
        if (choice.mode == "local") {
          LocalRuntimeOptions o;
          o.workspace = workspace;
          o.logDir = logDir;
          if (const char *env = std::getenv("ITERC_SANDBOX"); env && *env)
            o.sandbox = env;
          o.http = &http;
          return makeLocalRuntime(o);
        }
        Expected<std::string> engine = findContainerEngine(choice.engine);
        if (!engine)
          return engine.error();
        ContainerRuntimeOptions o;
        o.engine = *engine;
        if (const char *env = std::getenv("ITERC_CONTAINER_ARGS"))
          o.engineArgs = splitWords(env);
        if (const char *env = std::getenv("ITERC_CONTAINER_NETWORK"))
          o.network = env;
        o.project = containerName("iterc-" + wf.name + "-" + runId);
        o.workspace = workspace;
        o.logDir = logDir;
        o.http = &http;
        return makeContainerRuntime(o);
      };
}

struct Backend {
  std::unique_ptr<HttpTransport> http;
  ProviderSet real;
  std::unique_ptr<PrefixRouter> router;
  std::unique_ptr<ReplayProvider> replay;
  std::unique_ptr<RecordingProvider> recorder;
  ProviderSet engineSet; ///< What the engine sees: one override.
  std::string recordPath;
  Json keptEntries =
      Json::array(); ///< Earlier entries `resume --record` keeps.
  std::unique_ptr<ToolRunner> tools;
  std::unique_ptr<McpToolbox> mcp;
  PriceTable prices = PriceTable::builtin();

  HttpTransport &transport() {
    if (!http)
      http = makeHttpTransport();
    return *http;
  }
};

/// The run's default request deadlines: `defaults`, with ITERC_CONNECT_
/// TIMEOUT, ITERC_FIRST_BYTE_TIMEOUT and ITERC_REQUEST_TIMEOUT over them.
Expected<RequestTimeouts> timeoutsFromEnv(RequestTimeouts defaults) {
  struct Var {
    const char *name;
    int64_t *ms;
  } vars[] = {{"ITERC_CONNECT_TIMEOUT", &defaults.connectMs},
              {"ITERC_FIRST_BYTE_TIMEOUT", &defaults.firstByteMs},
              {"ITERC_REQUEST_TIMEOUT", &defaults.totalMs}};
  for (const Var &v : vars) {
    const char *text = std::getenv(v.name);
    if (!text || !*text)
      continue;
    std::optional<int64_t> ms = parseDurationMs(text);
    if (!ms || *ms <= 0)
      return Error(ErrorCode::InvalidInput,
                   std::string(v.name) +
                       " expects a positive duration such "
                       "as 30s or 10m, not '" +
                       text + "'");
    *v.ms = *ms;
  }
  return defaults;
}

/// Builds the backend. InvalidInput errors are the user's to fix (a bad
/// cassette, price table or record file): the caller exits with 2.
Status setUpBackend(Backend &b, const WorkflowDesc &wf,
                    const std::vector<ModelUse> &uses,
                    const std::string &cassette, const std::string &record,
                    bool appendRecord, const SecretMask &secrets) {
  Expected<PriceTable> prices = PriceTable::fromEnvironment();
  if (!prices)
    return prices.error();
  b.prices = *prices;
  if (!cassette.empty()) {
    Expected<std::unique_ptr<ReplayProvider>> replay =
        ReplayProvider::load(cassette);
    if (!replay)
      return replay.error();
    b.replay = std::move(*replay);
    b.replay->setMask(&secrets);
    b.engineSet.setOverride(b.replay.get());
  } else {
    for (const ProviderInfo &info : providerInfos(uses)) {
      if (!info.configured())
        continue;
      ProviderConfig config = providerConfigFromEnv(info.prefix);
      Expected<RequestTimeouts> timeouts = timeoutsFromEnv(config.timeouts);
      if (!timeouts)
        return timeouts.error();
      config.timeouts = *timeouts;
      Expected<std::unique_ptr<LlmProvider>> provider = makeProvider(
          info.prefix, std::move(config), b.transport(), systemClock());
      if (!provider)
        return provider.error();
      b.real.add(info.prefix, std::move(*provider));
    }
    b.router = std::make_unique<PrefixRouter>(b.real);
    if (!record.empty()) {
      if (appendRecord) {
        std::string error;
        if (std::optional<std::string> text = readFile(record, error)) {
          std::optional<Json> json = parseJson(*text);
          if (!json || !json->is_object() || !json->contains("entries") ||
              !(*json)["entries"].is_array())
            return Error(ErrorCode::InvalidInput,
                         "--record " + record +
                             ": the file exists and is not a cassette");
          b.keptEntries = (*json)["entries"];
        }
      }
      b.recordPath = record;
      b.recorder = std::make_unique<RecordingProvider>(*b.router, record);
      b.recorder->setMask(&secrets);
      b.engineSet.setOverride(b.recorder.get());
    } else {
      b.engineSet.setOverride(b.router.get());
    }
  }
  b.tools = makeProcessRunner();
  std::vector<McpServerConfig> servers = mcpConfigs(wf);
  if (!servers.empty()) {
    bool needsHttp = false;
    for (const McpServerConfig &c : servers)
      needsHttp = needsHttp || c.transport == "http" || c.transport == "sse" ||
                  (c.transport.empty() && !c.url.empty());
    Expected<std::unique_ptr<McpToolbox>> box =
        McpToolbox::connectAll(servers, needsHttp ? &b.transport() : nullptr);
    if (!box)
      return Error(box.error().code,
                   "cannot connect to the MCP servers: " + box.error().message);
    b.mcp = std::move(*box);
  }
  for (const NodeDesc &n : wf.nodes)
    if (!n.httpChecks.empty())
      (void)b.transport();
  return Status::success();
}

/// Writes the cassette; on resume, with the entries the file already held
/// first.
Status flushRecording(Backend &b) {
  if (!b.recorder)
    return Status::success();
  Status s = b.recorder->flush();
  if (!s || b.keptEntries.empty())
    return s;
  std::string error;
  std::optional<std::string> text = readFile(b.recordPath, error);
  std::optional<Json> fresh = text ? parseJson(*text) : std::nullopt;
  if (!fresh || !fresh->contains("entries"))
    return Error(ErrorCode::Store,
                 "cannot read back the cassette " + b.recordPath);
  Json entries = b.keptEntries;
  for (const Json &e : (*fresh)["entries"])
    entries.push_back(e);
  Json cassette = Json::object();
  cassette["version"] = 1;
  cassette["entries"] = entries;
  std::string tmp = b.recordPath + ".tmp." + std::to_string(::getpid());
  if (!writeFileText(tmp, dumpJson(cassette, 2) + "\n")) {
    std::remove(tmp.c_str());
    return Error(ErrorCode::Store, "cannot write the cassette " + tmp);
  }
  if (std::rename(tmp.c_str(), b.recordPath.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Error(ErrorCode::Store, "cannot write the cassette " + b.recordPath);
  }
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Progress
//===----------------------------------------------------------------------===//

/// Follows the events of a run: JSON lines, an updating terminal line, or
/// one line per finished node; and what the summary needs from them.
class Progress {
public:
  Progress(Ctx &ctx, bool json, int64_t tokens, double cost)
      : ctx(ctx), wf(ctx.wf), json(json), tty(ctx.io.progressTty && !json),
        tokens(tokens), cost(cost), loopIter(ctx.wf.loops.size(), 0),
        nodes(ctx.wf) {}

  void onEvent(const Event &e) {
    if (json) {
      ctx.io.out << dumpJson(e.toJson()) << "\n";
      ctx.io.out.flush();
    }
    std::string key = e.branchId + "\n" + e.nodeId;
    if (e.type == "node_started") {
      current = e.nodeId;
      if (std::optional<int64_t> t = parseTimestamp(e.timestamp))
        started[key] = *t;
    } else if (e.type == "node_finished") {
      int index = nodes.find(e.nodeId);
      bool terminal = index >= 0 && wf.nodes[size_t(index)].isTerminal();
      if (!terminal) {
        ++finished;
        if (!json && !tty)
          printFinished(e, key, index);
      }
    } else if (e.type == "llm_response") {
      const Json &r = e.data.value("response", Json::object());
      int64_t in = r.value("input_tokens", int64_t(0));
      int64_t out = r.value("output_tokens", int64_t(0));
      tokens += in + out;
      tokensIn += in;
      tokensOut += out;
      cost += e.data.value("cost_usd", 0.0);
    } else if (e.type == "edge_selected") {
      followEdge(e);
    } else if (e.type == "budget_warning" || e.type == "budget_exceeded") {
      std::string dim = e.data.value("dimension", std::string("budget"));
      double used = e.data.value("used", 0.0);
      double limit = e.data.value("limit", 0.0);
      if (e.type == "budget_exceeded") {
        exceededDimension = dim;
        exceededLimit = limit;
      }
      if (!json) {
        clearLine();
        char pct[32];
        std::snprintf(pct, sizeof(pct), "%.0f%%",
                      limit > 0 ? 100 * used / limit : 100.0);
        warn(ctx, std::string("budget: ") + dim + " at " + pct + " (" +
                      number(used) + " of " + number(limit) + ")" +
                      (e.type != "budget_exceeded" ? ""
                       : used < limit ? ", the next model call does not fit"
                                      : ", limit reached"));
      }
    }
    if (tty)
      render();
  }

  void finish() { clearLine(); }

  std::string finalNode;         ///< The node whose edge led to `done`.
  std::string exceededDimension; ///< From budget_exceeded.
  double exceededLimit = 0;
  int64_t tokensIn = 0, tokensOut = 0;

private:
  static std::string number(double v) {
    char buf[64];
    if (v == double(int64_t(v)))
      std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
    else
      std::snprintf(buf, sizeof(buf), "%.4g", v);
    return buf;
  }

  void followEdge(const Event &e) {
    std::string from = e.data.value("from", std::string());
    std::string to = e.data.value("to", std::string());
    if (to == wf.nodes[size_t(wf.doneIndex())].name && e.branchId.empty())
      finalNode = from;
    if (e.data.contains("loop")) {
      std::string name = e.data.value("loop", std::string());
      for (size_t L = 0; L < wf.loops.size(); ++L)
        if (wf.loops[L].name == name)
          loopIter[L] = e.data.value("iteration", int64_t(0));
      return;
    }
    // Entering a loop from outside starts its count again.
    int toIndex = nodes.find(to), fromIndex = nodes.find(from);
    for (size_t L = 0; L < wf.loops.size(); ++L) {
      const LoopDesc &loop = wf.loops[L];
      bool enters = std::find(loop.entries.begin(), loop.entries.end(),
                              toIndex) != loop.entries.end();
      bool inside = std::find(loop.body.begin(), loop.body.end(), fromIndex) !=
                    loop.body.end();
      if (enters && !inside)
        loopIter[L] = 0;
    }
  }

  std::string loopLabel(int index) const {
    std::string label;
    for (size_t L = 0; L < wf.loops.size(); ++L) {
      const LoopDesc &loop = wf.loops[L];
      if (loopIter[L] <= 0 || std::find(loop.body.begin(), loop.body.end(),
                                        index) == loop.body.end())
        continue;
      label += (label.empty() ? "" : ", ") + std::string("loop ") + loop.name +
               " " + std::to_string(loopIter[L]) + "/" +
               (loop.cap ? std::to_string(*loop.cap) : std::string("?"));
    }
    return label;
  }

  void printFinished(const Event &e, const std::string &key, int index) {
    std::string line =
        ctx.prog + ": " + e.nodeId + " finished (" +
        (index >= 0 ? kindName(wf.nodes[size_t(index)].kind) : "node");
    auto it = started.find(key);
    std::optional<int64_t> end = parseTimestamp(e.timestamp);
    if (it != started.end() && end)
      line += ", " + formatDuration(*end - it->second);
    int64_t nodeTokens = e.data.value("_tokens", int64_t(0));
    if (nodeTokens > 0)
      line += ", " + std::to_string(nodeTokens) + " tokens, " +
              formatCost(e.data.value("_cost_usd", 0.0));
    std::string loops = loopLabel(index);
    if (!loops.empty())
      line += ", " + loops;
    if (!e.branchId.empty())
      line += ", " + e.branchId;
    ctx.io.err << line << ")\n";
  }

  void render() {
    std::string line = ctx.prog + ": ";
    int index = nodes.find(current);
    if (current.empty()) {
      line += "starting";
    } else {
      line += current + " (" +
              (index >= 0 ? kindName(wf.nodes[size_t(index)].kind) : "node") +
              ")";
      std::string loops = loopLabel(index);
      if (!loops.empty())
        line += " " + loops;
    }
    line += " | " + std::to_string(finished) + " done | " +
            std::to_string(tokens) + " tokens | " + formatCost(cost);
    if (line.size() > 110)
      line = line.substr(0, 107) + "...";
    ctx.io.err << "\r\033[K" << line;
    ctx.io.err.flush();
    lineShown = true;
  }

  void clearLine() {
    if (tty && lineShown) {
      ctx.io.err << "\r\033[K";
      ctx.io.err.flush();
      lineShown = false;
    }
  }

  Ctx &ctx;
  const WorkflowDesc &wf;
  bool json;
  bool tty;
  int64_t tokens;
  double cost;
  int64_t finished = 0;
  std::string current;
  std::map<std::string, int64_t> started;
  std::vector<int64_t> loopIter;
  NodeIndex nodes; ///< Events name nodes: looked up per event.
  bool lineShown = false;
};

//===----------------------------------------------------------------------===//
// Outcome
//===----------------------------------------------------------------------===//

/// What the outcome printer needs besides the result.
struct Session {
  const Options &opts;
  RunStore &store;
  Progress &progress;
  const Redactor &redactor;
  bool json = false;
  /// Secret variables a resume must be given again (no default).
  std::vector<std::string> secretsToGive = {};
};

std::string resumeCommand(Ctx &ctx, const Session &s, const std::string &runId,
                          const std::vector<std::string> &extra) {
  std::string cmd =
      shellWord(ctx.invocation) + " resume --run-id " + shellWord(runId);
  for (const char *name : {"--store-dir", "--cassette", "--record"})
    if (s.opts.has(name))
      cmd += std::string(" ") + name + " " + shellWord(s.opts.last(name));
  for (const char *name : kBudgetOptions)
    if (s.opts.has(name))
      cmd += std::string(" ") + name + " " + shellWord(s.opts.last(name));
  for (const std::string &name : s.secretsToGive)
    cmd += " --var " + name + "=<secret>";
  for (const std::string &e : extra)
    cmd += " " + e;
  return cmd;
}

/// The `--answer NAME=<type>` placeholders of a human gate.
std::vector<std::string> answerPlaceholders(const WorkflowDesc &wf,
                                            const std::string &gate) {
  std::vector<std::string> out;
  int index = wf.findNode(gate);
  const SchemaDesc *answers =
      index >= 0 ? answerSchema(wf, wf.nodes[size_t(index)]) : nullptr;
  if (answers) {
    const SchemaDesc &schema = *answers;
    for (const FieldDesc &f : schema.fields)
      if (f.name.empty() || f.name[0] != '_')
        out.push_back("--answer " + f.name + "=<" + typeName(f.type) + ">");
  }
  if (out.empty())
    out.push_back("--answer NAME=VALUE");
  return out;
}

/// The option that raises the limit a budget stop hit, with twice it.
std::string budgetHint(const Progress &p, const RunResult &r) {
  std::string dim = p.exceededDimension;
  std::string message = r.error ? r.error->message : "";
  if (dim.empty()) {
    for (const char *d : {"tokens", "cost_usd", "iterations", "duration"})
      if (message.find(d) != std::string::npos) {
        dim = d;
        break;
      }
  }
  double limit = p.exceededLimit;
  char buf[64];
  if (dim == "tokens") {
    std::snprintf(buf, sizeof(buf), "%lld",
                  static_cast<long long>(limit > 0 ? limit * 2 : 100000));
    return std::string("--max-tokens ") + buf;
  }
  if (dim == "cost_usd") {
    std::snprintf(buf, sizeof(buf), "%.2f", limit > 0 ? limit * 2 : 5.0);
    return std::string("--max-cost ") + buf;
  }
  if (dim == "iterations") {
    std::snprintf(buf, sizeof(buf), "%lld",
                  static_cast<long long>(limit > 0 ? limit * 2 : 100));
    return std::string("--max-iterations ") + buf;
  }
  if (dim == "duration") {
    std::snprintf(buf, sizeof(buf), "%llds",
                  static_cast<long long>(limit > 0 ? limit * 2 / 1000 : 3600));
    return std::string("--max-duration ") + buf;
  }
  return "--max-iterations N";
}

/// The final node when the progress did not see it (e.g. resuming a run
/// that had already finished): the last edge to `done` in the log.
std::string finalNodeFromLog(const WorkflowDesc &wf, RunStore &store,
                             const std::string &runId) {
  Expected<std::vector<Event>> events = store.loadEvents(runId);
  std::string found;
  if (!events)
    return found;
  const std::string &done = wf.nodes[size_t(wf.doneIndex())].name;
  for (const Event &e : *events)
    if (e.type == "edge_selected" && e.branchId.empty() &&
        e.data.value("to", std::string()) == done)
      found = e.data.value("from", std::string());
  return found;
}

int printOutcome(Ctx &ctx, Session &s, const RunResult &r) {
  const Redactor &red = s.redactor;
  // A run the store does not hold (it could not be created) is no run.
  std::string runId = r.runId;
  if (!runId.empty() && !s.store.loadRun(runId))
    runId.clear();
  int code = exitCodeFor(r.status);
  std::string status = runStatusName(r.status);
  Json outputs = red.apply(r.outputs);
  std::string finalNode = s.progress.finalNode;
  if (finalNode.empty() && r.status == RunStatus::Finished && !runId.empty())
    finalNode = finalNodeFromLog(ctx.wf, s.store, runId);
  bool resumable = !runId.empty() && (r.status == RunStatus::FailedResumable ||
                                      r.status == RunStatus::BudgetExceeded ||
                                      r.status == RunStatus::Cancelled ||
                                      r.status == RunStatus::Running);
  std::string errorMessage =
      r.error ? red.apply(r.error->message) : std::string();
  std::string resume;
  if (r.status == RunStatus::PausedWaitingHuman)
    resume = resumeCommand(ctx, s, runId, answerPlaceholders(ctx.wf, r.node));
  else if (r.status == RunStatus::BudgetExceeded)
    resume = resumeCommand(ctx, s, runId, {budgetHint(s.progress, r)});
  else if (resumable && !runId.empty())
    resume = resumeCommand(ctx, s, runId, {});

  if (r.error && r.status != RunStatus::Finished) {
    std::string where = r.node.empty() ? "" : " (node '" + r.node + "')";
    ctx.io.err << ctx.prog << ": error: " << errorMessage << where
               << (resumable ? "; the run can be resumed" : "") << "\n";
  }

  Json usage = Json::object();
  usage["tokens"] = r.usage.tokens;
  usage["tokens_in"] = s.progress.tokensIn;
  usage["tokens_out"] = s.progress.tokensOut;
  usage["cost_usd"] = r.usage.costUsd;
  usage["iterations"] = r.usage.iterations;
  usage["elapsed_ms"] = r.usage.elapsedMs;

  if (s.json) {
    Json result = Json::object();
    result["type"] = "result";
    result["status"] = status;
    result["run_id"] = runId;
    result["exit_code"] = code;
    result["final_node"] = finalNode.empty() ? Json() : Json(finalNode);
    result["outputs"] = outputs;
    if (r.error) {
      Json error = Json::object();
      error["code"] = errorCodeName(r.error->code);
      error["message"] = errorMessage;
      error["node"] = r.node;
      error["resumable"] = resumable;
      result["error"] = error;
    } else {
      result["error"] = nullptr;
    }
    result["usage"] = usage;
    if (r.status == RunStatus::PausedWaitingHuman) {
      result["node"] = r.node;
      result["interaction_id"] = r.interactionId;
      result["questions"] = red.apply(r.questions);
    }
    if (!resume.empty())
      result["resume_command"] = resume;
    ctx.io.out << dumpJson(result) << "\n";
    return code;
  }

  Out &out = ctx.io.out;
  switch (r.status) {
  case RunStatus::Finished:
    out << "finished: run " << runId << "\n";
    if (!finalNode.empty() && outputs.contains(finalNode))
      out << "outputs of '" << finalNode << "':\n"
          << dumpJson(withoutPrivate(outputs[finalNode]), 2) << "\n";
    break;
  case RunStatus::PausedWaitingHuman: {
    out << "paused: run " << runId << " is waiting for a human at '" << r.node
        << "'\n";
    out << "interaction: " << r.interactionId << "\n";
    Expected<Json> interaction =
        s.store.loadInteraction(runId, r.interactionId);
    if (interaction && interaction->is_object()) {
      std::string instructions =
          interaction->value("instructions", std::string());
      if (!instructions.empty())
        out << "instructions: " << red.apply(instructions) << "\n";
    }
    out << "questions:\n" << dumpJson(red.apply(r.questions), 2) << "\n";
    out << "answer and continue with:\n  " << resume << "\n";
    break;
  }
  case RunStatus::BudgetExceeded:
    out << status << ": run " << runId << " stopped at '" << r.node
        << "': " << errorMessage << "\n";
    out << "continue with a larger budget:\n  " << resume << "\n";
    break;
  default:
    out << status << ": run " << (runId.empty() ? "(not created)" : runId)
        << (r.node.empty() ? "" : " stopped at '" + r.node + "'")
        << (errorMessage.empty() ? "" : ": " + errorMessage) << "\n";
    if (!resume.empty() && r.status == RunStatus::Cancelled)
      // Interrupted (Ctrl-C, SIGTERM): nothing is wrong; it can go on.
      out << "the run was interrupted; continue it with:\n  " << resume << "\n";
    else if (!resume.empty())
      out << "the run can be resumed once the cause is fixed:\n  " << resume
          << "\n";
    else if (r.status == RunStatus::Failed && !runId.empty())
      out << "this run cannot be resumed; start a new one with '"
          << ctx.invocation << " run'\n";
    break;
  }
  out << "usage: " << r.usage.tokens << " tokens";
  if (s.progress.tokensIn + s.progress.tokensOut > 0)
    out << " (" << s.progress.tokensIn << " in, " << s.progress.tokensOut
        << " out)";
  out << ", " << formatCost(r.usage.costUsd) << ", " << r.usage.iterations
      << " node executions, " << formatDuration(r.usage.elapsedMs) << "\n";
  return code;
}

//===----------------------------------------------------------------------===//
// Dry run
//===----------------------------------------------------------------------===//

const char *nsName(RefNs ns) {
  switch (ns) {
  case RefNs::Vars:
    return "vars";
  case RefNs::Input:
    return "input";
  case RefNs::Outputs:
    return "outputs";
  case RefNs::Artifacts:
    return "artifacts";
  case RefNs::Loop:
    return "loop";
  case RefNs::Run:
    return "run";
  }
  return "vars";
}

std::string templateText(const Template &t) {
  std::string out;
  for (const TemplatePart &p : t.parts) {
    out += p.literal;
    if (p.ref) {
      out += std::string("{{") + (p.ref->raw ? "!" : "") + nsName(p.ref->ns);
      for (const std::string &s : p.ref->path)
        out += "." + s;
      out += "}}";
    }
  }
  return out;
}

std::string schemaName(const WorkflowDesc &wf, int index) {
  return index >= 0 && size_t(index) < wf.schemas.size()
             ? wf.schemas[size_t(index)].name
             : std::string();
}

std::string conditionText(const EdgeDesc &e) {
  switch (e.cond) {
  case EdgeDesc::Cond::None:
    return "";
  case EdgeDesc::Cond::Field:
    return (e.negated ? "not " : "") + e.field;
  case EdgeDesc::Cond::Expr:
    return "\"" + e.exprText + "\"";
  }
  return "";
}

std::string loopCap(const LoopDesc &loop) {
  if (loop.cap)
    return std::to_string(*loop.cap);
  std::string t = templateText(loop.capTemplate);
  return t.empty() ? "?" : t;
}

std::string pad(const std::string &s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

/// The stack in start order (declaration order when it is inconsistent,
/// which iterc check rejects anyway).
std::vector<const ServiceDesc *> planServices(const WorkflowDesc &wf) {
  if (Expected<std::vector<const ServiceDesc *>> order =
          startOrder(wf.services, wf.stack))
    return *order;
  std::vector<const ServiceDesc *> out;
  for (const ServiceDesc &s : wf.services)
    out.push_back(&s);
  return out;
}

/// Why the `mode` runtime cannot start `s`, or empty when it can.
std::string cannotRun(const ServiceDesc &s, const std::string &mode) {
  if (mode == "local" && s.program.empty())
    return "the local runtime runs `program` services only; give it a "
           "program or use --stack container";
  if (mode == "container" && s.image.empty() && s.buildContext.empty())
    return "the container runtime needs an `image` or a `build` context; "
           "use --stack local";
  return "";
}

/// Why the `mode` runtime cannot start again each `restart:` service of
/// tool `n` ("service: reason"), in the node's order; empty when it can.
std::vector<std::string> restartProblems(const WorkflowDesc &wf,
                                         const NodeDesc &n,
                                         const std::string &mode) {
  std::vector<std::string> problems;
  for (const std::string &name : n.restart) {
    auto it =
        std::find_if(wf.services.begin(), wf.services.end(),
                     [&](const ServiceDesc &s) { return s.name == name; });
    std::string problem;
    if (it == wf.services.end())
      problem = "no service has this name";
    else if (mode == "off")
      problem = "no stack runtime runs services (--stack off)";
    else if (mode == "external")
      problem = "it runs outside this runner (--stack external) and cannot "
                "be restarted from here";
    else
      problem = cannotRun(*it, mode);
    if (!problem.empty())
      problems.push_back(name + ": " + problem);
  }
  return problems;
}

Json serviceJson(const ServiceDesc &s, const std::string &mode) {
  Json j = {{"name", s.name}};
  if (!s.image.empty())
    j["image"] = s.image;
  if (!s.buildContext.empty())
    j["build"] = s.buildContext;
  if (!s.program.empty())
    j["program"] = s.program;
  j["ports"] = s.ports;
  j["depends_on"] = s.dependsOn;
  if (s.health)
    j["health"] = !s.health->http.empty() ? "GET " + s.health->http
                                          : "command " + s.health->command[0];
  std::string problem = cannotRun(s, mode);
  j["problem"] = problem.empty() ? Json() : Json(problem);
  return j;
}

struct DryRun {
  const std::map<std::string, ResolvedVar> &vars;
  const std::vector<ModelUse> &uses;
  const BudgetDesc &budget;
  bool budgetOverridden = false;
  std::string cassette = {};
  std::string record = {};
  std::string storeDir = {};
  std::string workspace = {};
  std::string runId = {};
  std::string preset = {};
  std::string stack = "local";
};

int printPlan(Ctx &ctx, const DryRun &d, bool json) {
  const WorkflowDesc &wf = ctx.wf;
  std::vector<ProviderInfo> providers = providerInfos(d.uses);
  std::vector<McpServerConfig> servers = mcpConfigs(wf);
  auto varValue = [&](const VarDesc &v) -> Json {
    auto it = d.vars.find(v.name);
    if (it == d.vars.end())
      return Json();
    return v.secret ? Json("***") : it->second.value;
  };
  auto modelOf = [&](const std::string &node) -> const ModelUse * {
    for (const ModelUse &u : d.uses)
      if (u.node == node)
        return &u;
    return nullptr;
  };
  if (json) {
    Json plan = Json::object();
    plan["type"] = "plan";
    plan["workflow"] = wf.name;
    Json vars = Json::array();
    for (const VarDesc &v : wf.vars) {
      auto it = d.vars.find(v.name);
      vars.push_back({{"name", v.name},
                      {"type", typeName(v.type)},
                      {"secret", v.secret},
                      {"value", varValue(v)},
                      {"source", it == d.vars.end() ? "" : it->second.source}});
    }
    plan["variables"] = vars;
    Json nodes = Json::array();
    for (const NodeDesc &n : wf.nodes) {
      Json node = {{"name", n.name}, {"kind", kindName(n.kind)}};
      if (const ModelUse *u = modelOf(n.name))
        node["model"] = u->model;
      if (n.input >= 0)
        node["input"] = schemaName(wf, n.input);
      if (n.output >= 0)
        node["output"] = schemaName(wf, n.output);
      if (!n.restart.empty()) {
        node["restart"] = n.restart;
        node["restart_problems"] = restartProblems(wf, n, d.stack);
      }
      nodes.push_back(node);
    }
    plan["entry"] = wf.nodes.empty() ? "" : wf.nodes[size_t(wf.entry)].name;
    plan["nodes"] = nodes;
    Json edges = Json::array();
    for (const EdgeDesc &e : wf.edges) {
      Json edge = {{"from", wf.nodes[size_t(e.from)].name},
                   {"to", wf.nodes[size_t(e.to)].name}};
      if (e.cond != EdgeDesc::Cond::None)
        edge["condition"] = conditionText(e);
      if (e.loop >= 0)
        edge["loop"] = wf.loops[size_t(e.loop)].name;
      edges.push_back(edge);
    }
    plan["edges"] = edges;
    Json loops = Json::array();
    for (const LoopDesc &l : wf.loops) {
      Json body = Json::array();
      for (int b : l.body)
        body.push_back(wf.nodes[size_t(b)].name);
      loops.push_back({{"name", l.name},
                       {"cap", loopCap(l)},
                       {"body", body},
                       {"no_progress", l.noProgress}});
    }
    plan["loops"] = loops;
    Json budget = Json::object();
    if (d.budget.maxTokens)
      budget["max_tokens"] = *d.budget.maxTokens;
    if (d.budget.maxCostUsd)
      budget["max_cost_usd"] = *d.budget.maxCostUsd;
    if (d.budget.maxIterations)
      budget["max_iterations"] = *d.budget.maxIterations;
    if (d.budget.maxDurationMs)
      budget["max_duration_ms"] = *d.budget.maxDurationMs;
    if (d.budget.maxParallelBranches)
      budget["max_parallel_branches"] = *d.budget.maxParallelBranches;
    plan["budget"] = budget;
    Json provs = Json::array();
    for (const ProviderInfo &p : providers)
      provs.push_back({{"prefix", p.prefix},
                       {"base_url", p.baseUrl},
                       {"key_env", p.keyVar},
                       {"key_set", p.keySet},
                       {"nodes", p.nodes}});
    plan["providers"] = provs;
    Json mcp = Json::array();
    for (const McpServerConfig &c : servers)
      mcp.push_back(c.name);
    plan["mcp_servers"] = mcp;
    Json services = Json::array();
    for (const ServiceDesc *svc : planServices(wf))
      services.push_back(serviceJson(*svc, d.stack));
    plan["services"] = services;
    plan["stack"] = wf.stack.empty() ? Json() : Json(d.stack);
    plan["cassette"] = d.cassette.empty() ? Json() : Json(d.cassette);
    plan["record"] = d.record.empty() ? Json() : Json(d.record);
    plan["store_dir"] = d.storeDir;
    plan["workspace"] = d.workspace;
    ctx.io.out << dumpJson(plan) << "\n";
    return ExitFinished;
  }

  Out &out = ctx.io.out;
  out << "dry run of workflow '" << wf.name
      << "': nothing is called and nothing is written\n";

  out << "\nvariables"
      << (d.preset.empty() ? std::string() : " (preset " + d.preset + ")")
      << ":\n";
  if (wf.vars.empty())
    out << "  (none)\n";
  size_t width = 0;
  for (const VarDesc &v : wf.vars)
    width = std::max(width, v.name.size());
  for (const VarDesc &v : wf.vars) {
    auto it = d.vars.find(v.name);
    out << "  " << pad(v.name, width + 1) << "= "
        << (v.secret ? std::string("***") : dumpJson(it->second.value)) << "  ("
        << typeName(v.type) << (v.secret ? ", secret" : "") << ", "
        << it->second.source << ")\n";
  }

  out << "\nnodes (entry: "
      << (wf.nodes.empty() ? "" : wf.nodes[size_t(wf.entry)].name) << "):\n";
  width = 0;
  for (const NodeDesc &n : wf.nodes)
    width = std::max(width, n.name.size());
  for (const NodeDesc &n : wf.nodes) {
    if (n.isTerminal())
      continue;
    std::vector<std::string> details;
    if (const ModelUse *u = modelOf(n.name))
      details.push_back("model " + u->model +
                        (u->raw != u->model ? " (from " + u->raw + ")" : ""));
    if (n.input >= 0)
      details.push_back("in " + schemaName(wf, n.input));
    if (n.output >= 0)
      details.push_back("out " + schemaName(wf, n.output));
    if (n.kind == NodeKind::Tool)
      details.push_back("command `" + templateText(n.command) + "`");
    if (!n.restart.empty())
      details.push_back("restarts " + joinList(n.restart));
    if (!n.tools.empty())
      details.push_back("tools " + joinList(n.tools));
    if (n.await != AwaitMode::None)
      details.push_back(n.await == AwaitMode::WaitAll ? "await wait_all"
                                                      : "await best_effort");
    std::string line = "  " + pad(n.name, width + 2) + pad(kindName(n.kind), 9);
    for (const std::string &d : details)
      line += d + "  ";
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out << line << "\n";
    for (const std::string &problem : restartProblems(wf, n, d.stack))
      out << "    cannot restart " << problem << "\n";
  }

  out << "\nedges (tried in this order):\n";
  for (const EdgeDesc &e : wf.edges) {
    out << "  " << wf.nodes[size_t(e.from)].name << " -> "
        << wf.nodes[size_t(e.to)].name;
    std::string cond = conditionText(e);
    if (!cond.empty())
      out << " when " << cond;
    if (e.loop >= 0)
      out << " as " << wf.loops[size_t(e.loop)].name << "("
          << loopCap(wf.loops[size_t(e.loop)]) << ")";
    if (!e.with.empty()) {
      out << " with {";
      bool first = true;
      for (const auto &[k, v] : e.with) {
        out << (first ? "" : ", ") << k << ": \"" << templateText(v) << "\"";
        first = false;
      }
      out << "}";
    }
    out << "\n";
  }

  out << "\nloops:\n";
  if (wf.loops.empty())
    out << "  (none)\n";
  for (const LoopDesc &l : wf.loops) {
    std::vector<std::string> body;
    for (int b : l.body)
      body.push_back(wf.nodes[size_t(b)].name);
    out << "  " << l.name << ": cap " << loopCap(l) << ", body "
        << joinList(body);
    if (l.noProgress > 0)
      out << ", stops after " << l.noProgress << " identical results";
    out << "\n";
  }

  out << "\nbudget"
      << (d.budgetOverridden ? " (with the --max-* overrides)" : "") << ":\n";
  std::vector<std::string> limits;
  if (d.budget.maxTokens)
    limits.push_back("max_tokens " + std::to_string(*d.budget.maxTokens));
  if (d.budget.maxCostUsd)
    limits.push_back("max_cost_usd " + formatCost(*d.budget.maxCostUsd));
  if (d.budget.maxIterations)
    limits.push_back("max_iterations " +
                     std::to_string(*d.budget.maxIterations));
  if (d.budget.maxDurationMs)
    limits.push_back("max_duration " + formatDuration(*d.budget.maxDurationMs));
  if (d.budget.maxParallelBranches)
    limits.push_back("max_parallel_branches " +
                     std::to_string(*d.budget.maxParallelBranches));
  out << "  " << (limits.empty() ? "no limits" : joinList(limits)) << "\n";

  out << "\nproviders:\n";
  if (!d.cassette.empty()) {
    out << "  every model call is answered from the cassette " << d.cassette
        << " (no network)\n";
  } else if (providers.empty()) {
    bool replay = false;
    for (const ModelUse &u : d.uses)
      replay = replay || u.prefix == "replay";
    out << (replay ? "  replay/ models need --cassette FILE\n"
                   : "  (none: no node calls a model)\n");
  } else {
    for (const ProviderInfo &p : providers) {
      out << "  " << pad(p.prefix, 11) << p.baseUrl << "  ";
      if (p.keyVar.empty())
        out << "no key needed";
      else
        out << p.keyVar << (p.keySet ? " is set" : " is NOT set");
      out << "  (nodes: " << joinList(p.nodes) << ")\n";
    }
    if (!d.record.empty())
      out << "  every exchange is recorded to " << d.record << "\n";
  }
  if (!servers.empty()) {
    out << "\nmcp servers:\n";
    for (const McpServerConfig &c : servers)
      out << "  " << c.name << " ("
          << (c.transport.empty() ? "stdio" : c.transport) << ") "
          << (c.url.empty() ? c.command : c.url) << "\n";
  }
  if (!wf.stack.empty()) {
    out << "\nservices (brought up in this order by the " << d.stack
        << " runtime";
    if (d.stack == "off")
      out << ": not started";
    out << "):\n";
    for (const ServiceDesc *svc : planServices(wf)) {
      out << "  " << svc->name << ": "
          << (!svc->image.empty()          ? "image " + svc->image
              : !svc->buildContext.empty() ? "built from " + svc->buildContext
                                           : "program " + svc->program);
      bool container = !svc->image.empty() || !svc->buildContext.empty();
      if (!svc->program.empty() && container)
        out << " (locally: program " << svc->program << ")";
      if (!svc->ports.empty())
        out << ", ports " << joinList(svc->ports);
      if (!svc->dependsOn.empty())
        out << ", after " << joinList(svc->dependsOn);
      if (svc->health)
        out << ", healthy when "
            << (!svc->health->http.empty()
                    ? "GET " + svc->health->http + " answers"
                    : svc->health->command[0] + " exits 0");
      out << "\n";
      if (std::string problem = cannotRun(*svc, d.stack); !problem.empty())
        out << "    cannot start: " << problem << "\n";
    }
  }
  out << "\nstore: " << d.storeDir
      << "  run id: " << (d.runId.empty() ? "(generated)" : d.runId)
      << "  workspace: " << d.workspace << "\n";
  return ExitFinished;
}

//===----------------------------------------------------------------------===//
// Answers
//===----------------------------------------------------------------------===//

Expected<Json> collectAnswers(const WorkflowDesc &wf, const NodeDesc *gate,
                              const Options &opts) {
  Json answers = Json::object();
  const SchemaDesc *schema = gate ? answerSchema(wf, *gate) : nullptr;
  if (opts.has("--answers-file")) {
    Expected<Json> file = readAnswersFile(opts.last("--answers-file"));
    if (!file)
      return file.error();
    answers = *file;
  }
  for (const std::string &arg : opts.all("--answer")) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(ErrorCode::InvalidInput,
                   "--answer expects NAME=VALUE, got '" + arg + "'");
    std::string name = arg.substr(0, eq);
    std::string text = arg.substr(eq + 1);
    const FieldDesc *field = nullptr;
    if (schema) {
      std::vector<std::string> names;
      for (const FieldDesc &f : schema->fields) {
        names.push_back(f.name);
        if (f.name == name)
          field = &f;
      }
      if (!field && !schema->fields.empty()) {
        std::string hint = closest(name, names);
        return Error(
            ErrorCode::InvalidInput,
            "'" + gate->name + "' asks for no field '" + name + "'" +
                (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                " (fields: " + joinList(names) + ")");
      }
    }
    Expected<Json> value = answerValue(field, name, text);
    if (!value)
      return value.error();
    answers[name] = *value;
  }
  if (schema)
    if (std::vector<std::string> bad = intAnswerProblems(*schema, answers);
        !bad.empty())
      return Error(ErrorCode::InvalidInput, joinList(bad));
  return answers;
}

std::string fieldList(const WorkflowDesc &wf, const NodeDesc *gate) {
  const SchemaDesc *schema = gate ? answerSchema(wf, *gate) : nullptr;
  if (!schema)
    return "";
  std::vector<std::string> fields;
  for (const FieldDesc &f : schema->fields)
    fields.push_back(f.name + " (" + typeName(f.type) + ")");
  return fields.empty() ? "" : " (fields: " + joinList(fields) + ")";
}

} // namespace

//===----------------------------------------------------------------------===//
// run
//===----------------------------------------------------------------------===//

/// Takes the run's lock for the rest of the process; the exit code when
/// it cannot be taken (ExitRunInUse when another process holds it).
static std::optional<int> lockRun(Ctx &ctx, RunLock &lock,
                                  const std::string &storeDir,
                                  const std::string &runId) {
  lock = RunLock::acquire(storeDir, runId);
  if (lock.held())
    return std::nullopt;
  return errorExit(ctx, lock.error()->message,
                   lock.busy() ? ExitRunInUse : ExitFailed);
}

int iterc::rt::app::cmdRun(Ctx &ctx, const std::vector<std::string> &args) {
  const WorkflowDesc &wf = ctx.wf;
  std::optional<Options> opts = parseOptions(ctx, "run", args, 1, runSpecs());
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "run");
    return ExitFinished;
  }
  if (opts->has("--cassette") && opts->has("--record"))
    return usageError(ctx,
                      "--cassette and --record exclude each other (replay a "
                      "cassette, or record a new one)",
                      "run");
  Expected<FlagApprover> approver = approverFrom(wf, *opts);
  if (!approver)
    return usageError(ctx, approver.error().message, "run");
  Expected<std::vector<std::string>> varArgs = varArguments(*opts);
  if (!varArgs)
    return usageError(ctx, varArgs.error().message, "run");
  Expected<std::map<std::string, ResolvedVar>> vars =
      resolveVars(wf, *varArgs, opts->last("--preset"), true);
  if (!vars)
    return usageError(ctx, vars.error().message, "run");
  Expected<std::optional<BudgetDesc>> budget = budgetOverride(wf, *opts);
  if (!budget)
    return usageError(ctx, budget.error().message, "run");
  Expected<std::vector<ModelUse>> uses = modelUses(wf);
  if (!uses)
    return usageError(ctx, uses.error().message, "run");
  std::string runId = opts->last("--run-id");
  if (opts->has("--run-id") && !isSafeStoreName(runId))
    return usageError(ctx,
                      "invalid --run-id '" + runId +
                          "': it must be a non-empty file name without '/' "
                          "or '..'",
                      "run");
  std::string workspaceArg =
      opts->has("--workspace") ? opts->last("--workspace") : ".";
  char resolved[PATH_MAX];
  if (workspaceArg.empty() || !::realpath(workspaceArg.c_str(), resolved) ||
      !isDirectory(resolved))
    return usageError(
        ctx, "--workspace '" + workspaceArg + "' is not an existing directory",
        "run");
  std::string workspace = resolved;
  std::string storeDir = storeDirFor(*opts);
  std::string record = opts->last("--record");
  std::string cassette = opts->last("--cassette");
  if (cassette.empty() && record.empty())
    if (const char *env = std::getenv("ITERC_CASSETTE"))
      cassette = env;
  Expected<StackChoice> stack = stackChoice(*opts);
  if (!stack)
    return usageError(ctx, stack.error().message, "run");
  Redactor redactor;
  redactor.addSecrets(wf, *vars);
  bool json = opts->has("--json");

  if (opts->has("--dry-run")) {
    DryRun plan{*vars, *uses, budget->value_or(wf.budget)};
    plan.budgetOverridden = budget->has_value();
    plan.cassette = cassette;
    plan.record = record;
    plan.storeDir = storeDir;
    plan.workspace = workspace;
    plan.runId = runId;
    plan.preset = opts->last("--preset");
    plan.stack = stack->mode;
    // A run `run` would refuse is refused alike (exit 2), after the text
    // plan (which says which key is not set); a usage error writes no JSON.
    std::string missing = missingProvider(*uses, cassette);
    if (missing.empty())
      missing = missingPrice(wf, plan.budget);
    if (!missing.empty() && json)
      return usageError(ctx, missing, "run");
    int planned = printPlan(ctx, plan, json);
    if (!missing.empty() && planned == ExitFinished)
      return usageError(ctx, missing, "run");
    return planned;
  }

  // Every model must have a provider before anything runs.
  if (std::string missing = missingProvider(*uses, cassette); !missing.empty())
    return usageError(ctx, missing, "run");
  if (std::string missing = missingPrice(wf, budget->value_or(wf.budget));
      !missing.empty())
    return usageError(ctx, missing, "run");

  Backend backend;
  Status ready = setUpBackend(backend, wf, *uses, cassette, record, false,
                              redactor.fileMask());
  if (!ready)
    return ready.error().code == ErrorCode::InvalidInput
               ? usageError(ctx, ready.error().message, "run")
               : errorExit(ctx, ready.error().message, ExitFailed);
  // The run is this process's from before its state is first read.
  bool named = !runId.empty();
  if (!named)
    runId = newRunId(systemClock());
  RunLock lock;
  if (std::optional<int> code = lockRun(ctx, lock, storeDir, runId))
    return *code;
  std::unique_ptr<RunStore> store = makeFileStore(storeDir);
  if (named && store->loadRun(runId))
    return usageError(ctx,
                      "a run named '" + runId + "' already exists in " +
                          storeDir +
                          "; continue it with 'resume' or choose another "
                          "--run-id",
                      "run");

  RunOptions options;
  options.runId = runId;
  for (const auto &[name, v] : *vars)
    if (v.source == "--var")
      options.vars[name] = v.value;
  options.preset = opts->last("--preset");
  options.workspace = workspace;
  options.budgetOverride = *budget;

  Progress progress(ctx, json, 0, 0);
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &backend.engineSet;
  deps.tools = backend.tools.get();
  deps.approver = &*approver;
  deps.interrupt = ctx.io.interrupt;
  deps.http = backend.http.get();
  deps.toolbox = backend.mcp.get();
  deps.prices = backend.prices;
  deps.onEvent = [&progress](const Event &e) { progress.onEvent(e); };
  deps.stack =
      stackFactory(wf, *stack, storeDir, workspace, backend.transport());
  Engine engine(wf, deps);
  RunResult result = engine.run(options);
  progress.finish();
  if (Status flushed = flushRecording(backend); !flushed)
    warn(ctx, "the cassette was not written: " + flushed.error().message);

  Session session{*opts, *store, progress, redactor};
  session.json = json;
  for (const VarDesc &v : wf.vars)
    if (v.secret && !v.defaultValue && vars->count(v.name) &&
        vars->at(v.name).source == "--var")
      session.secretsToGive.push_back(v.name);
  return printOutcome(ctx, session, result);
}

//===----------------------------------------------------------------------===//
// resume
//===----------------------------------------------------------------------===//

int iterc::rt::app::cmdResume(Ctx &ctx, const std::vector<std::string> &args) {
  const WorkflowDesc &wf = ctx.wf;
  std::optional<Options> opts =
      parseOptions(ctx, "resume", args, 1, resumeSpecs());
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "resume");
    return ExitFinished;
  }
  if (!opts->has("--run-id"))
    return usageError(ctx,
                      "resume needs --run-id ID (list the runs with '" +
                          ctx.prog + " inspect')",
                      "resume");
  std::string runId = opts->last("--run-id");
  if (!isSafeStoreName(runId))
    return usageError(ctx, "invalid --run-id '" + runId + "'", "resume");
  Expected<FlagApprover> approver = approverFrom(wf, *opts);
  if (!approver)
    return usageError(ctx, approver.error().message, "resume");
  if (opts->has("--cassette") && opts->has("--record"))
    return usageError(ctx, "--cassette and --record exclude each other",
                      "resume");
  Expected<std::optional<BudgetDesc>> budget = budgetOverride(wf, *opts);
  if (!budget)
    return usageError(ctx, budget.error().message, "resume");
  Expected<std::vector<std::string>> varArgs = varArguments(*opts);
  if (!varArgs)
    return usageError(ctx, varArgs.error().message, "resume");
  Expected<std::map<std::string, ResolvedVar>> vars =
      resolveVars(wf, *varArgs, "", false);
  if (!vars)
    return usageError(ctx, vars.error().message, "resume");

  std::string storeDir = storeDirFor(*opts);
  std::unique_ptr<RunStore> store = makeFileStore(storeDir);
  Expected<RunRecord> record = store->loadRun(runId);
  // Locked only once it exists (a mistyped id makes no directory), and
  // read again under the lock.
  RunLock lock;
  if (record) {
    if (std::optional<int> code = lockRun(ctx, lock, storeDir, runId))
      return *code;
    record = store->loadRun(runId);
  }
  if (!record) {
    std::vector<std::string> ids = store->listRuns();
    std::string hint = closest(runId, ids);
    return usageError(
        ctx,
        "no run '" + runId + "' in the store " + storeDir +
            (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
            " (list the runs with '" + ctx.prog + " inspect')",
        "resume");
  }
  if (record->workflowName != wf.name)
    return usageError(ctx,
                      "run '" + runId + "' belongs to the workflow '" +
                          record->workflowName + "', not '" + wf.name + "'",
                      "resume");
  if (record->workflowHash != wf.sourceSha256)
    return usageError(ctx,
                      "run '" + runId +
                          "' was started by a different build of '" + wf.name +
                          "' (source sha256 " + record->workflowHash +
                          "); only that build can resume it",
                      "resume");
  if (record->status == RunStatus::Failed)
    return errorExit(ctx,
                     "run '" + runId + "' failed for good (" +
                         record->error.value("message", std::string("failed")) +
                         "); start a new run with '" + ctx.invocation + " run'",
                     ExitFailed);

  // Answers: only for a run waiting at a gate, and checked before resuming.
  bool paused = record->status == RunStatus::PausedWaitingHuman;
  std::string gateName = record->extra.value("pending_node", std::string());
  int gateIndex = wf.findNode(gateName);
  const NodeDesc *gate =
      gateIndex >= 0 ? &wf.nodes[size_t(gateIndex)] : nullptr;
  bool answered = opts->has("--answer") || opts->has("--answers-file");
  if (answered && !paused)
    return usageError(ctx,
                      "run '" + runId + "' is not waiting for answers (it is " +
                          runStatusName(record->status) + ")",
                      "resume");
  Json answers;
  if (paused) {
    if (!answered) {
      std::string questions;
      std::string interactionId =
          record->extra.value("pending_interaction", std::string());
      if (Expected<Json> interaction =
              store->loadInteraction(runId, interactionId);
          interaction && interaction->is_object() &&
          interaction->contains("questions"))
        questions = "; its questions: " + dumpJson((*interaction)["questions"]);
      return usageError(ctx,
                        "run '" + runId + "' is waiting for answers to '" +
                            gateName + "'" + fieldList(wf, gate) +
                            "; give them with --answer NAME=VALUE or "
                            "--answers-file FILE" +
                            questions,
                        "resume");
    }
    Expected<Json> collected = collectAnswers(wf, gate, *opts);
    if (!collected)
      return usageError(ctx, collected.error().message, "resume");
    if (const SchemaDesc *schema = gate ? answerSchema(wf, *gate) : nullptr) {
      std::vector<std::string> problems = schema->validate(*collected);
      if (!problems.empty())
        return usageError(ctx,
                          "the answers for '" + gateName +
                              "' are not valid: " + joinList(problems),
                          "resume");
    }
    answers = *collected;
  }
  // Secret variables are never stored: a resume must be given them again.
  for (const VarDesc &v : wf.vars) {
    if (!v.secret || vars->count(v.name))
      continue;
    auto it = record->inputs.find(v.name);
    if (it != record->inputs.end())
      return usageError(ctx,
                        "variable '" + v.name +
                            "' is secret and was not stored; give it again "
                            "with --var " +
                            v.name + "=...",
                        "resume");
  }

  Expected<StackChoice> stack = stackChoice(*opts);
  if (!stack)
    return usageError(ctx, stack.error().message, "resume");
  Expected<std::vector<ModelUse>> uses = modelUses(wf);
  if (!uses)
    return usageError(ctx, uses.error().message, "resume");
  std::string record_ = opts->last("--record");
  std::string cassette = opts->last("--cassette");
  if (cassette.empty() && record_.empty())
    if (const char *env = std::getenv("ITERC_CASSETTE"))
      cassette = env;
  if (std::string missing = missingProvider(*uses, cassette); !missing.empty())
    return usageError(ctx, missing, "resume");
  if (std::string missing = missingPrice(wf, budget->value_or(wf.budget));
      !missing.empty())
    return usageError(ctx, missing, "resume");
  Redactor redactor; // Outlives the backend, which masks with it.
  redactor.addSecrets(wf, *vars);
  Backend backend;
  Status ready = setUpBackend(backend, wf, *uses, cassette, record_, true,
                              redactor.fileMask());
  if (!ready)
    return ready.error().code == ErrorCode::InvalidInput
               ? usageError(ctx, ready.error().message, "resume")
               : errorExit(ctx, ready.error().message, ExitFailed);

  bool json = opts->has("--json");
  Json previous = record->extra.value("usage", Json::object());
  Progress progress(ctx, json, previous.value("tokens", int64_t(0)),
                    previous.value("cost_usd", 0.0));
  // Tokens in and out count the whole run, as `tokens` does: every call in
  // its log (this session's are added as they are made).
  if (Expected<std::vector<Event>> logged = store->loadEvents(runId)) {
    CallRecords calls;
    calls.load(*logged);
    progress.tokensIn = calls.spent().tokensIn;
    progress.tokensOut = calls.spent().tokensOut;
  }
  RunOptions options;
  for (const auto &[name, v] : *vars)
    if (v.source == "--var")
      options.vars[name] = v.value;
  options.workspace = "";
  options.budgetOverride = *budget;
  EngineDeps deps;
  deps.store = store.get();
  deps.providers = &backend.engineSet;
  deps.tools = backend.tools.get();
  deps.approver = &*approver;
  deps.interrupt = ctx.io.interrupt;
  deps.http = backend.http.get();
  deps.toolbox = backend.mcp.get();
  deps.prices = backend.prices;
  deps.onEvent = [&progress](const Event &e) { progress.onEvent(e); };
  deps.stack = stackFactory(wf, *stack, storeDir,
                            record->extra.value("workspace", std::string(".")),
                            backend.transport());
  Engine engine(wf, deps);
  RunResult result = engine.resume(runId, answers, options);
  progress.finish();
  if (Status flushed = flushRecording(backend); !flushed)
    warn(ctx, "the cassette was not written: " + flushed.error().message);

  Session session{*opts, *store, progress, redactor};
  session.json = json;
  for (const VarDesc &v : wf.vars)
    if (v.secret && !v.defaultValue && vars->count(v.name) &&
        vars->at(v.name).source == "--var")
      session.secretsToGive.push_back(v.name);
  return printOutcome(ctx, session, result);
}
