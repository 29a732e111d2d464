//===- AppProbe.cpp - The hidden health-probe command ---------------------===//
//
// This file implements `<program> __probe URL [TIMEOUT_MS]`: one HTTP GET,
// exit 0 when the answer is 2xx or 3xx, 1 otherwise. iterc copies the
// static executable into the FROM-scratch images it generates for `build`
// services as /iterc-probe, so that their compose health checks can run in
// exec form, with no shell, wget or curl in the image. Only plain http:// is
// probed (a health check on 127.0.0.1 inside the container), and nothing is
// printed on success: Docker keeps the output of every probe.
//
//===----------------------------------------------------------------------===//
#include "AppInternal.h"

#include "iterc/rt/Http.h"

#include <cstdlib>

using namespace iterc::rt;
using namespace iterc::rt::app;

namespace {

constexpr int64_t kDefaultProbeMs = 5000;
constexpr int64_t kMaxProbeMs = 600000;

bool parseTimeout(const std::string &text, int64_t &ms) {
  if (text.empty() || text.size() > 9 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  ms = std::strtoll(text.c_str(), nullptr, 10);
  return ms > 0 && ms <= kMaxProbeMs;
}

} // namespace

int iterc::rt::app::cmdProbe(Ctx &ctx, const std::vector<std::string> &args) {
  if (args.size() < 2 || args.size() > 3) {
    ctx.io.err << ctx.prog << ": usage: " << ctx.prog
               << " __probe http://HOST:PORT/PATH [TIMEOUT_MS]\n";
    return ExitUsage;
  }
  const std::string &url = args[1];
  if (url.rfind("http://", 0) != 0 || url.size() <= 7) {
    ctx.io.err << ctx.prog << ": __probe: only http:// URLs are probed\n";
    return ExitUsage;
  }
  HttpRequest request;
  request.url = url;
  request.timeoutMs = kDefaultProbeMs;
  if (args.size() == 3 && !parseTimeout(args[2], request.timeoutMs)) {
    ctx.io.err << ctx.prog << ": __probe: the timeout must be 1 to "
               << kMaxProbeMs << " milliseconds\n";
    return ExitUsage;
  }
  Expected<HttpResponse> response = makeHttpTransport()->send(request);
  if (!response.ok()) {
    ctx.io.err << "GET " << url << ": " << response.error().message << "\n";
    return ExitFailed;
  }
  if (response->status < 200 || response->status >= 400) {
    ctx.io.err << "GET " << url << ": HTTP " << response->status << "\n";
    return ExitFailed;
  }
  return ExitFinished;
}
