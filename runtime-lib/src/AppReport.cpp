//===- AppReport.cpp - The inspect and report commands --------------------===//
//
// This file implements the read-only commands: `inspect` lists the runs of
// the workflow or shows one run (status, variables, pending questions, the
// event log), and `report` renders a run as Markdown: summary, timeline,
// loops, budget warnings, errors and final outputs. Both read the store and
// never write it; the report depends only on the run record and its event
// log, so the same log always gives the same report.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"
#include "FileText.h"

#include "iterc/rt/Clock.h"

#include <algorithm>
#include <cstdio>
#include <sys/stat.h>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

bool isDirectory(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string clip(const std::string &text, size_t max) {
  std::string oneLine;
  for (char c : text)
    oneLine += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  if (oneLine.size() <= max)
    return oneLine;
  return oneLine.substr(0, max) + "...";
}

/// Text fit for one Markdown table cell.
std::string cell(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string seconds(int64_t ms) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f s", double(ms) / 1000);
  return buf;
}

/// Loads a run for inspect/report; an unknown run is a usage error.
std::optional<RunRecord> loadRecord(Ctx &ctx, RunStore &store,
                                    const std::string &runId,
                                    const std::string &storeDir,
                                    const std::string &command) {
  if (!isSafeStoreName(runId)) {
    usageError(ctx, "invalid --run-id '" + runId + "'", command);
    return std::nullopt;
  }
  Expected<RunRecord> record = store.loadRun(runId);
  if (!record) {
    std::string hint = closest(runId, store.listRuns());
    usageError(ctx,
               "no run '" + runId + "' in the store " + storeDir +
                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
               command);
    return std::nullopt;
  }
  return *record;
}

/// The node of the last node_started event, or "".
std::string lastNode(const std::vector<Event> &events) {
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if (it->type == "node_started")
      return it->nodeId;
  return "";
}

/// One event as a line of text.
std::string eventLine(const Event &e) {
  std::string line =
      "#" + std::to_string(e.seq) + "  " + e.timestamp + "  " + e.type;
  if (!e.nodeId.empty())
    line += "  " + e.nodeId;
  if (!e.branchId.empty())
    line += "  [" + e.branchId + "]";
  const Json &d = e.data;
  std::string detail;
  if (e.type == "edge_selected") {
    detail =
        d.value("from", std::string()) + " -> " + d.value("to", std::string());
    if (d.contains("condition"))
      detail += " when " + d.value("condition", std::string());
    if (d.contains("loop"))
      detail += " (loop " + d.value("loop", std::string()) + " #" +
                std::to_string(d.value("iteration", int64_t(0))) + ")";
  } else if (e.type == "llm_response") {
    const Json &r = d.value("response", Json::object());
    detail = d.value("model", std::string()) + ", " +
             std::to_string(r.value("input_tokens", int64_t(0))) + " in, " +
             std::to_string(r.value("output_tokens", int64_t(0))) + " out, " +
             formatCost(d.value("cost_usd", 0.0));
  } else if (e.type == "node_finished") {
    detail =
        clip(dumpJson(withoutPrivate(d.value("output", Json::object()))), 120);
  } else if (e.type == "run_failed") {
    detail = d.value("status", std::string()) + " " +
             d.value("code", std::string()) + ": " +
             clip(d.value("error", std::string()), 200);
  } else if (!d.empty()) {
    detail = clip(dumpJson(d), 120);
  }
  if (!detail.empty())
    line += "  " + detail;
  return line;
}

//===----------------------------------------------------------------------===//
// The report
//===----------------------------------------------------------------------===//

/// Text as a Markdown code span on one line, cut to `max`.
std::string codeSpan(const std::string &text, size_t max = 200) {
  std::string out = clip(text, max);
  std::replace(out.begin(), out.end(), '`', '\'');
  return "`" + out + "`";
}

/// A failed verify node's output: "failed: N checks" for the timeline, and
/// one list item per failure for the "Verify failures" section. Nothing
/// when the output is not a failed verify (the log is read from disk, so
/// every field is checked, never trusted).
bool verifyFailures(const Json &output, std::string &outcome,
                    std::vector<std::string> &items) {
  if (!output.is_object())
    return false;
  auto passed = output.find("passed");
  if (passed == output.end() || !passed->is_boolean() || passed->get<bool>())
    return false;
  auto failures = output.find("failures");
  size_t n =
      failures != output.end() && failures->is_array() ? failures->size() : 0;
  outcome = "failed: " + std::to_string(n) + " check" + (n == 1 ? "" : "s");
  auto text = [](const Json &f, const char *key) {
    auto it = f.find(key);
    if (it == f.end())
      return std::string();
    return it->is_string() ? it->get<std::string>() : dumpJson(*it);
  };
  const size_t shown = 10;
  for (size_t i = 0; i < n && i < shown; ++i) {
    const Json &f = (*failures)[i];
    if (!f.is_object())
      continue;
    items.push_back(codeSpan(text(f, "check"), 80) + ": expected " +
                    codeSpan(text(f, "expected")) + ", actual " +
                    codeSpan(text(f, "actual")));
  }
  if (n > shown)
    items.push_back("and " + std::to_string(n - shown) + " more");
  return true;
}

struct Row {
  std::string node;
  std::string kind;
  std::string branch;
  int64_t startMs = 0;
  std::optional<int64_t> endMs;
  int64_t tokens = 0;
  double cost = 0;
  std::string outcome;
  bool open = true;
};

} // namespace

std::string iterc::rt::app::renderReport(const WorkflowDesc &wf,
                                         const RunRecord &record,
                                         const std::vector<Event> &events) {
  std::optional<int64_t> t0;
  std::optional<int64_t> tEnd;
  for (const Event &e : events)
    if (std::optional<int64_t> t = parseTimestamp(e.timestamp)) {
      if (!t0)
        t0 = *t;
      tEnd = *t;
    }
  auto offset = [&](const Event &e) -> int64_t {
    std::optional<int64_t> t = parseTimestamp(e.timestamp);
    return t && t0 ? *t - *t0 : 0;
  };

  std::vector<Row> rows;
  std::map<std::string, size_t> openRow; ///< branch \n node -> row
  std::map<std::string, size_t> lastRow; ///< branch \n node -> row
  struct LoopStat {
    int64_t traversals = 0;
    int64_t highest = 0;
  };
  std::map<std::string, LoopStat> loops;
  std::vector<std::string> warnings, errors, interactions;
  std::string verifyMd; ///< The "Verify failures" section's list.
  int64_t tokensIn = 0, tokensOut = 0;
  double cost = 0;
  std::string finalNode;
  std::map<std::string, Json> lastOutput;
  std::string lastFinished;
  const std::string doneName =
      wf.nodes.empty() ? "done" : wf.nodes[size_t(wf.doneIndex())].name;

  NodeIndex nodes(wf);
  for (const Event &e : events) {
    std::string key = e.branchId + "\n" + e.nodeId;
    const Json &d = e.data;
    if (e.type == "node_started") {
      int index = nodes.find(e.nodeId);
      if (index >= 0 && wf.nodes[size_t(index)].isTerminal())
        continue;
      Row row;
      row.node = e.nodeId;
      row.kind = d.value(
          "kind",
          std::string(index >= 0 ? kindName(wf.nodes[size_t(index)].kind)
                                 : ""));
      row.branch = e.branchId;
      row.startMs = offset(e);
      rows.push_back(row);
      openRow[key] = rows.size() - 1;
      lastRow[key] = rows.size() - 1;
    } else if (e.type == "llm_response") {
      const Json &r = d.value("response", Json::object());
      int64_t in = r.value("input_tokens", int64_t(0));
      int64_t out = r.value("output_tokens", int64_t(0));
      double c = d.value("cost_usd", 0.0);
      tokensIn += in;
      tokensOut += out;
      cost += c;
      if (auto it = openRow.find(key); it != openRow.end()) {
        rows[it->second].tokens += in + out;
        rows[it->second].cost += c;
      }
    } else if (e.type == "node_finished") {
      if (auto it = openRow.find(key); it != openRow.end()) {
        Row &row = rows[it->second];
        row.endMs = offset(e);
        row.open = false;
        std::string failed;
        std::vector<std::string> items;
        int n = nodes.find(e.nodeId);
        if (n >= 0 && wf.nodes[size_t(n)].kind == NodeKind::Verify &&
            verifyFailures(d.value("output", Json()), failed, items)) {
          row.outcome = failed;
          verifyMd +=
              "- #" + std::to_string(it->second + 1) + " `" + row.node + "`:\n";
          for (const std::string &item : items)
            verifyMd += "  - " + item + "\n";
        }
        if (row.outcome.empty())
          row.outcome = "ok";
        openRow.erase(it);
      }
      int index = nodes.find(e.nodeId);
      if (index >= 0 && !wf.nodes[size_t(index)].isTerminal()) {
        lastOutput[e.nodeId] = d.value("output", Json::object());
        lastFinished = e.nodeId;
      }
    } else if (e.type == "edge_selected") {
      std::string from = d.value("from", std::string());
      std::string to = d.value("to", std::string());
      std::string fromKey = e.branchId + "\n" + from;
      if (auto it = lastRow.find(fromKey); it != lastRow.end())
        rows[it->second].outcome +=
            (rows[it->second].outcome.empty() ? "-> " : " -> ") + to;
      if (d.contains("loop")) {
        LoopStat &s = loops[d.value("loop", std::string())];
        ++s.traversals;
        s.highest = std::max(s.highest, d.value("iteration", int64_t(0)));
      }
      if (to == doneName && e.branchId.empty())
        finalNode = from;
    } else if (e.type == "human_input_requested") {
      if (auto it = openRow.find(key); it != openRow.end())
        rows[it->second].outcome = "waiting for answers";
      interactions.push_back(
          "`" + e.nodeId + "` asked (interaction `" +
          d.value("interaction_id", std::string()) + "`): `" +
          clip(dumpJson(d.value("questions", Json())), 200) + "`");
    } else if (e.type == "human_answers_recorded") {
      if (auto it = openRow.find(key); it != openRow.end())
        rows[it->second].outcome = "answered";
      interactions.push_back("`" + e.nodeId + "` answered: `" +
                             clip(dumpJson(d.value("answers", Json())), 200) +
                             "`");
    } else if (e.type == "budget_warning" || e.type == "budget_exceeded") {
      double used = d.value("used", 0.0), limit = d.value("limit", 0.0);
      char buf[160];
      std::snprintf(buf, sizeof(buf), "%g of %g (%.0f%%)", used, limit,
                    limit > 0 ? 100 * used / limit : 100.0);
      warnings.push_back(
          std::string(e.type == "budget_exceeded" ? "**limit reached** "
                                                  : "warning ") +
          "`" + d.value("dimension", std::string()) + "`: " + buf +
          (e.nodeId.empty() ? "" : " at `" + e.nodeId + "`"));
    } else if (e.type == "run_failed") {
      std::string node = e.nodeId;
      std::string code = d.value("code", std::string());
      for (auto &[k, index] : openRow)
        if (rows[index].node == node && rows[index].outcome.empty())
          rows[index].outcome = "failed: " + code;
      errors.push_back((node.empty() ? std::string() : "`" + node + "`: ") +
                       "`" + code + "` " + d.value("error", std::string()) +
                       " (status " + d.value("status", std::string()) +
                       (d.value("resumable", false) ? ", resumable" : "") +
                       ")");
    } else if (e.type == "branch_finished" && !d.value("ok", true)) {
      errors.push_back("branch `" + e.branchId + "` failed");
    } else if (e.type == "run_paused") {
      for (auto &[k, index] : openRow)
        if (rows[index].node == e.nodeId && rows[index].outcome.empty())
          rows[index].outcome = "paused";
    }
  }
  for (Row &row : rows)
    if (row.open && row.outcome.empty())
      row.outcome = "did not finish";

  std::string md;
  md += "# Run report: " + record.workflowName + "\n\n";
  md += "## Summary\n\n";
  md += "| Field | Value |\n| --- | --- |\n";
  md += "| Workflow | `" + cell(record.workflowName) + "` |\n";
  md += "| Run id | `" + cell(record.id) + "` |\n";
  md += "| Status | " + std::string(runStatusName(record.status)) + " |\n";
  md += "| Started | " + cell(record.createdAt) + " |\n";
  md +=
      "| Finished | " +
      (record.finishedAt.empty() ? std::string("-") : cell(record.finishedAt)) +
      " |\n";
  md += "| Duration | " +
        (t0 && tEnd ? formatDuration(*tEnd - *t0) : std::string("-")) + " |\n";
  md += "| Node executions | " + std::to_string(rows.size()) + " |\n";
  md += "| Tokens in | " + std::to_string(tokensIn) + " |\n";
  md += "| Tokens out | " + std::to_string(tokensOut) + " |\n";
  md += "| Cost | " + formatCost(cost) + " |\n";
  md += "| Source sha256 | `" + cell(record.workflowHash) + "` |\n";

  md += "\n## Timeline\n\n";
  if (rows.empty()) {
    md += "No node ran.\n";
  } else {
    md += "| # | Node | Kind | Branch | Start | Duration | Tokens | Cost | "
          "Outcome |\n";
    md += "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row &r = rows[i];
      md += "| " + std::to_string(i + 1) + " | `" + cell(r.node) + "` | " +
            cell(r.kind) + " | " + cell(r.branch) + " | +" +
            seconds(r.startMs) + " | " +
            (r.endMs ? seconds(*r.endMs - r.startMs) : std::string("-")) +
            " | " + std::to_string(r.tokens) + " | " + formatCost(r.cost) +
            " | " + cell(r.outcome) + " |\n";
    }
  }

  md += "\n## Loops\n\n";
  if (wf.loops.empty() && loops.empty()) {
    md += "The workflow has no loops.\n";
  } else {
    md += "| Loop | Traversals | Highest iteration | Cap |\n";
    md += "| --- | ---: | ---: | ---: |\n";
    for (const LoopDesc &l : wf.loops) {
      LoopStat s = loops.count(l.name) ? loops[l.name] : LoopStat();
      md += "| `" + cell(l.name) + "` | " + std::to_string(s.traversals) +
            " | " + std::to_string(s.highest) + " | " +
            (l.cap ? std::to_string(*l.cap) : std::string("dynamic")) + " |\n";
    }
  }

  md += "\n## Budget warnings\n\n";
  if (warnings.empty())
    md += "None.\n";
  for (const std::string &w : warnings)
    md += "- " + w + "\n";

  if (!verifyMd.empty())
    md += "\n## Verify failures\n\n" + verifyMd;

  md += "\n## Errors\n\n";
  if (errors.empty())
    md += "None.\n";
  for (const std::string &e : errors)
    md += "- " + e + "\n";

  if (!interactions.empty()) {
    md += "\n## Human interactions\n\n";
    for (const std::string &i : interactions)
      md += "- " + i + "\n";
  }

  if (std::string inputs = modelInputsMarkdown(events); !inputs.empty()) {
    md += "\n## Model inputs\n\n" + inputs;
    while (md.size() >= 2 && md.back() == '\n' && md[md.size() - 2] == '\n')
      md.pop_back();
  }

  md += "\n## Final outputs\n\n";
  std::vector<std::string> shown;
  if (record.status == RunStatus::Finished && !finalNode.empty() &&
      lastOutput.count(finalNode)) {
    shown.push_back(finalNode);
  } else if (record.status == RunStatus::Finished) {
    // Done reached from several branches: every predecessor that ran.
    for (const EdgeDesc &edge : wf.edges)
      if (edge.to == wf.doneIndex()) {
        const std::string &name = wf.nodes[size_t(edge.from)].name;
        if (lastOutput.count(name) &&
            std::find(shown.begin(), shown.end(), name) == shown.end())
          shown.push_back(name);
      }
  }
  if (shown.empty() && !lastFinished.empty()) {
    md += "The run did not reach `done` (status " +
          std::string(runStatusName(record.status)) +
          "); the latest output is shown.\n\n";
    shown.push_back(lastFinished);
  }
  if (shown.empty())
    md += "No node produced an output.\n";
  for (const std::string &name : shown)
    md += "### `" + name + "`\n\n```json\n" +
          dumpJson(withoutPrivate(lastOutput[name]), 2) + "\n```\n\n";
  while (md.size() >= 2 && md[md.size() - 1] == '\n' &&
         md[md.size() - 2] == '\n')
    md.pop_back();
  return md;
}

//===----------------------------------------------------------------------===//
// inspect
//===----------------------------------------------------------------------===//

int iterc::rt::app::cmdInspect(Ctx &ctx, const std::vector<std::string> &args) {
  const WorkflowDesc &wf = ctx.wf;
  std::optional<Options> opts = parseOptions(ctx, "inspect", args, 1,
                                             {{"--run-id", true, ""},
                                              {"--events", false, ""},
                                              {"--prompts", false, ""},
                                              {"--json", false, ""},
                                              {"--store-dir", true, ""}});
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "inspect");
    return ExitFinished;
  }
  bool json = opts->has("--json");
  std::string storeDir = storeDirFor(*opts);
  Out &out = ctx.io.out;

  if (!opts->has("--run-id")) {
    if (opts->has("--events") || opts->has("--prompts"))
      return usageError(
          ctx,
          std::string(opts->has("--events") ? "--events" : "--prompts") +
              " needs --run-id ID",
          "inspect");
    struct Listed {
      RunRecord record;
      std::string lastNode;
    };
    std::vector<Listed> runs;
    size_t others = 0;
    if (isDirectory(storeDir)) {
      std::unique_ptr<RunStore> store = makeFileStore(storeDir);
      for (const std::string &id : store->listRuns()) {
        Expected<RunRecord> record = store->loadRun(id);
        if (!record)
          continue;
        if (record->workflowName != wf.name) {
          ++others;
          continue;
        }
        Expected<std::vector<Event>> events = store->loadEvents(id);
        runs.push_back({*record, events ? lastNode(*events) : ""});
      }
    }
    std::sort(runs.begin(), runs.end(), [](const Listed &a, const Listed &b) {
      if (a.record.createdAt != b.record.createdAt)
        return a.record.createdAt > b.record.createdAt;
      return a.record.id > b.record.id;
    });
    if (json) {
      for (const Listed &r : runs) {
        Json line = Json::object();
        line["run_id"] = r.record.id; // "run_id" in every JSON output
        line["status"] = runStatusName(r.record.status);
        line["workflow"] = r.record.workflowName;
        line["created_at"] = r.record.createdAt;
        line["updated_at"] = r.record.updatedAt;
        line["last_node"] = r.lastNode;
        out << dumpJson(line) << "\n";
      }
      return ExitFinished;
    }
    if (runs.empty()) {
      out << "no runs of workflow '" << wf.name << "' in " << storeDir;
      if (others)
        out << " (" << others << " run" << (others == 1 ? "" : "s")
            << " of other workflows)";
      out << "\n";
      return ExitFinished;
    }
    size_t wId = 6, wStatus = 6, wStarted = 7;
    for (const Listed &r : runs) {
      wId = std::max(wId, r.record.id.size());
      wStatus =
          std::max(wStatus, std::string(runStatusName(r.record.status)).size());
      wStarted = std::max(wStarted, r.record.createdAt.size());
    }
    auto padTo = [](const std::string &s, size_t w) {
      return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
    };
    out << padTo("RUN ID", wId) << "  " << padTo("STATUS", wStatus) << "  "
        << padTo("STARTED", wStarted) << "  LAST NODE\n";
    for (const Listed &r : runs)
      out << padTo(r.record.id, wId) << "  "
          << padTo(runStatusName(r.record.status), wStatus) << "  "
          << padTo(r.record.createdAt, wStarted) << "  " << r.lastNode << "\n";
    return ExitFinished;
  }

  std::unique_ptr<RunStore> store = makeFileStore(storeDir);
  std::string runId = opts->last("--run-id");
  std::optional<RunRecord> record =
      loadRecord(ctx, *store, runId, storeDir, "inspect");
  if (!record)
    return ExitUsage;
  Expected<std::vector<Event>> events = store->loadEvents(runId);
  if (!events)
    return errorExit(ctx, events.error().message, ExitFailed);

  if (json && (opts->has("--events") || opts->has("--prompts"))) {
    for (const Event &e : *events)
      if (opts->has("--events") || e.type == "llm_response")
        out << dumpJson(e.toJson()) << "\n";
    return ExitFinished;
  }

  Json vars = Json::object();
  for (const Event &e : *events)
    if (e.type == "run_started")
      vars = e.data.value("vars", Json::object());
  if (vars.empty())
    vars = record->inputs;
  std::string pendingNode = record->extra.value("pending_node", std::string());
  std::string interactionId =
      record->extra.value("pending_interaction", std::string());
  Json pending;
  if (record->status == RunStatus::PausedWaitingHuman) {
    pending = Json::object();
    pending["node"] = pendingNode;
    pending["interaction_id"] = interactionId;
    Expected<Json> interaction = store->loadInteraction(runId, interactionId);
    if (interaction && interaction->is_object()) {
      pending["instructions"] =
          interaction->value("instructions", std::string());
      pending["questions"] = interaction->value("questions", Json());
    }
  }
  std::string last = lastNode(*events);
  Json usage = record->extra.value("usage", Json::object());

  if (json) {
    Json j = Json::object();
    j["type"] = "run";
    // The stored record says "id"; every JSON output says "run_id".
    Json run = record->toJson();
    if (run.contains("id")) {
      run["run_id"] = run["id"];
      run.erase("id");
    }
    j["run"] = run;
    j["vars"] = vars;
    j["last_node"] = last;
    j["pending"] = pending;
    j["usage"] = usage;
    j["events"] = int64_t(events->size());
    out << dumpJson(j) << "\n";
    return ExitFinished;
  }

  out << "run " << record->id << "\n";
  out << "  workflow: " << record->workflowName << " (sha256 "
      << record->workflowHash << ")\n";
  out << "  status:   " << runStatusName(record->status) << "\n";
  out << "  started:  " << record->createdAt << "\n";
  out << "  updated:  " << record->updatedAt << "\n";
  if (!record->finishedAt.empty())
    out << "  finished: " << record->finishedAt << "\n";
  bool running = record->status == RunStatus::Running ||
                 record->status == RunStatus::PausedWaitingHuman;
  out << "  " << (running ? "current node: " : "last node: ")
      << (last.empty() ? "-" : last) << "\n";
  if (!usage.empty())
    out << "  usage:    " << usage.value("tokens", int64_t(0)) << " tokens, "
        << formatCost(usage.value("cost_usd", 0.0)) << ", "
        << usage.value("iterations", int64_t(0)) << " node executions\n";
  if (record->error.is_object())
    out << "  error:    " << record->error.value("code", std::string()) << " "
        << record->error.value("message", std::string())
        << (record->error.value("node", std::string()).empty()
                ? ""
                : " (node '" + record->error.value("node", std::string()) +
                      "')")
        << "\n";
  out << "  variables:";
  if (vars.empty())
    out << " (none)";
  out << "\n";
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    bool secret = false;
    for (const VarDesc &v : wf.vars)
      secret = secret || (v.name == it.key() && v.secret);
    out << "    " << it.key() << " = "
        << (secret ? std::string("***") : dumpJson(it.value())) << "\n";
  }
  if (!pending.is_null()) {
    out << "  pending human interaction " << interactionId << " at '"
        << pendingNode << "':\n";
    std::string instructions = pending.value("instructions", std::string());
    if (!instructions.empty())
      out << "    instructions: " << instructions << "\n";
    out << "    questions: " << dumpJson(pending.value("questions", Json()))
        << "\n";
    out << "    answer with: " << shellWord(ctx.invocation)
        << " resume --run-id " << shellWord(runId)
        << (opts->has("--store-dir")
                ? " --store-dir " + shellWord(opts->last("--store-dir"))
                : "")
        << " --answer NAME=VALUE\n";
  }
  if (opts->has("--events")) {
    out << "events:\n";
    for (const Event &e : *events) {
      out << "  " << eventLine(e) << "\n";
      if (e.type == "llm_response") {
        std::string sent = sentSummary(e, 100);
        for (size_t at = 0, end; at < sent.size(); at = end + 1) {
          end = sent.find('\n', at);
          out << "      " << sent.substr(at, end - at) << "\n";
        }
      }
    }
  }
  if (opts->has("--prompts"))
    out << "model calls (what each sent):\n" << sentInFull(*events);
  return ExitFinished;
}

//===----------------------------------------------------------------------===//
// report
//===----------------------------------------------------------------------===//

int iterc::rt::app::cmdReport(Ctx &ctx, const std::vector<std::string> &args) {
  std::optional<Options> opts = parseOptions(ctx, "report", args, 1,
                                             {{"--run-id", true, ""},
                                              {"--store-dir", true, ""},
                                              {"--output", true, "-o"}});
  if (!opts)
    return ExitUsage;
  if (opts->help) {
    ctx.io.out << commandHelp(ctx, "report");
    return ExitFinished;
  }
  if (!opts->has("--run-id"))
    return usageError(ctx,
                      "report needs --run-id ID (list the runs with '" +
                          ctx.prog + " inspect')",
                      "report");
  std::string storeDir = storeDirFor(*opts);
  std::unique_ptr<RunStore> store = makeFileStore(storeDir);
  std::string runId = opts->last("--run-id");
  std::optional<RunRecord> record =
      loadRecord(ctx, *store, runId, storeDir, "report");
  if (!record)
    return ExitUsage;
  Expected<std::vector<Event>> events = store->loadEvents(runId);
  if (!events)
    return errorExit(ctx, events.error().message, ExitFailed);
  std::string markdown = renderReport(ctx.wf, *record, *events);
  if (!opts->has("--output") || opts->last("--output") == "-") {
    ctx.io.out << markdown;
    return ExitFinished;
  }
  std::string path = opts->last("--output");
  if (!writeFileText(path, markdown))
    return errorExit(ctx, "cannot write the report to '" + path + "'",
                     ExitFailed);
  return ExitFinished;
}
