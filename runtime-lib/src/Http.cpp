//===- Http.cpp - HTTP(S) client over Boost.Beast and OpenSSL -------------===//
//
// This file implements the runtime's HTTP transport and its retry policy.
// Each request opens one connection (plain TCP or TLS with peer and host
// name verification), writes the request and reads the reply under a
// deadline that covers connect, handshake, write and read. Beast and Asio
// report failures through error codes here; anything that still throws is
// caught at the boundary and turned into an Error, so no exception leaves
// this file. sendWithRetry retries 429, 5xx and transport failures with
// exponential backoff and jitter, honouring Retry-After, and sleeps through
// the Clock so tests with a FakeClock never wait. A request may have a
// connect and a first-byte deadline besides its total one, and may be
// abandoned while in flight (the run's duration budget ran out).
//
//===----------------------------------------------------------------------===//
#include "iterc/rt/Http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <mutex>
#include <random>
#include <sys/stat.h>

using namespace iterc::rt;

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

//===----------------------------------------------------------------------===//
// Small helpers
//===----------------------------------------------------------------------===//

namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return std::string(s.substr(b, e - b));
}

/// The parts of an http(s) URL the transport needs.
struct Url {
  bool tls = false;
  std::string host; ///< Without brackets for IPv6 literals.
  std::string port;
  std::string target; ///< Path and query, never empty.
  bool ipv6 = false;

  /// host:port as it appears in messages and the Host header.
  std::string authority() const {
    return (ipv6 ? "[" + host + "]" : host) + ":" + port;
  }
  std::string hostHeader() const {
    bool defaultPort = (tls && port == "443") || (!tls && port == "80");
    std::string h = ipv6 ? "[" + host + "]" : host;
    return defaultPort ? h : h + ":" + port;
  }
};

Expected<Url> parseUrl(const std::string &text) {
  Url url;
  size_t schemeEnd = text.find("://");
  if (schemeEnd == std::string::npos)
    return Error(ErrorCode::InvalidInput,
                 "invalid URL '" + text + "': expected http:// or https://");
  std::string scheme = toLower(std::string_view(text).substr(0, schemeEnd));
  if (scheme == "https")
    url.tls = true;
  else if (scheme != "http")
    return Error(ErrorCode::InvalidInput, "unsupported URL scheme '" + scheme +
                                              "' (expected http or https)");
  size_t authStart = schemeEnd + 3;
  size_t authEnd = text.find_first_of("/?#", authStart);
  if (authEnd == std::string::npos)
    authEnd = text.size();
  std::string authority = text.substr(authStart, authEnd - authStart);
  if (authority.find('@') != std::string::npos)
    return Error(ErrorCode::InvalidInput,
                 "credentials in URLs are not supported; use headers");
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return Error(ErrorCode::InvalidInput,
                   "invalid URL '" + text + "': unterminated IPv6 literal");
    url.host = authority.substr(1, close - 1);
    url.ipv6 = true;
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':')
        return Error(ErrorCode::InvalidInput,
                     "invalid URL '" + text + "': bad authority");
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos) {
      url.host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    } else {
      url.host = authority;
    }
  }
  if (url.host.empty())
    return Error(ErrorCode::InvalidInput,
                 "invalid URL '" + text + "': missing host");
  if (port.empty()) {
    port = url.tls ? "443" : "80";
  } else {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(port) == 0 || std::stoi(port) > 65535)
      return Error(ErrorCode::InvalidInput,
                   "invalid URL '" + text + "': bad port '" + port + "'");
  }
  url.port = port;
  std::string target = text.substr(authEnd);
  size_t hash = target.find('#');
  if (hash != std::string::npos)
    target.erase(hash);
  if (target.empty() || target[0] == '?')
    target = "/" + target;
  url.target = target;
  return url;
}

/// "POST https://host:port/path" without the query, for messages: a query
/// string may carry credentials.
std::string describe(const std::string &method, const Url &url) {
  std::string path = url.target.substr(0, url.target.find('?'));
  return method + " " + (url.tls ? "https://" : "http://") + url.authority() +
         path;
}

bool fileExists(const char *path) {
  struct stat st;
  return ::stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

std::string opensslErrors() {
  std::string out;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// The transport
//===----------------------------------------------------------------------===//

/// The completion handler of every operation here: it records the error
/// code and that the operation finished. One named type, so that each Beast
/// and Asio operation is instantiated once.
struct OpDone {
  bool *done;
  beast::error_code *result;
  template <typename... Rest>
  void operator()(beast::error_code ec, Rest &&...) const {
    *result = ec;
    *done = true;
  }
};

/// The deadlines of one attempt, as points in time: the whole attempt,
/// connecting (TCP and TLS), and the first byte of the reply.
struct Deadlines {
  using Time = std::chrono::steady_clock::time_point;
  static constexpr Time never = Time::max();
  Time total = never;
  Time connect = never;
  int64_t firstByteMs = 0;

  explicit Deadlines(const HttpRequest &request) {
    Time start = std::chrono::steady_clock::now();
    if (request.timeoutMs > 0)
      total = start + std::chrono::milliseconds(request.timeoutMs);
    connect = total;
    if (request.connectTimeoutMs > 0)
      connect = std::min(
          total, start + std::chrono::milliseconds(request.connectTimeoutMs));
  }
  /// When the first byte must have arrived, counted from now.
  Time firstByte() const {
    if (firstByteMs <= 0)
      return total;
    return std::min(total, std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(firstByteMs));
  }
  static void arm(beast::tcp_stream &tcp, Time when) {
    if (when == never)
      tcp.expires_never();
    else
      tcp.expires_at(when);
  }
};

/// Runs one attempt's operations, each until it completes. Every operation
/// is bounded by the stream's deadline, so this never blocks forever. When
/// the request can be abandoned, it is asked every 50 ms; an abandoned
/// attempt cancels what the socket is doing and keeps the reason.
class OpRunner {
public:
  OpRunner(net::io_context &ioc, const HttpRequest &request)
      : ioc(ioc), request(request) {}

  /// The socket whose operations an abandon cancels.
  void watch(beast::tcp_stream &stream) { tcp = &stream; }

  template <typename Start> beast::error_code run(Start &&start) {
    bool done = false;
    beast::error_code result;
    start(OpDone{&done, &result});
    ioc.restart();
    while (!done) {
      if (!request.abandon) {
        if (ioc.run_one() == 0)
          break;
        continue;
      }
      if (ioc.run_one_for(std::chrono::milliseconds(50)) == 0 && ioc.stopped())
        break;
      if (!done && !abandoned)
        if ((abandoned = request.abandon()) && tcp)
          tcp->cancel();
    }
    if (!done || abandoned)
      return net::error::operation_aborted;
    return result;
  }

  /// Why the attempt was abandoned, if it was.
  std::optional<Error> abandoned;

private:
  net::io_context &ioc;
  const HttpRequest &request;
  beast::tcp_stream *tcp = nullptr;
};

/// A move-only, type-erased read or write completion handler. It keeps the
/// wrapped handler's associated executor, so completions run where they
/// would have run without the erasure.
class ErasedHandler {
public:
  using executor_type = net::any_io_executor;

  template <typename Handler>
  ErasedHandler(Handler &&handler, const executor_type &fallback)
      : executor(net::get_associated_executor(handler, fallback)),
        impl(std::make_unique<Impl<std::decay_t<Handler>>>(
            std::forward<Handler>(handler))) {}

  executor_type get_executor() const noexcept { return executor; }

  void operator()(beast::error_code ec, std::size_t bytes) {
    std::unique_ptr<Base> call = std::move(impl);
    call->invoke(ec, bytes);
  }

private:
  struct Base {
    virtual ~Base() = default;
    virtual void invoke(beast::error_code ec, std::size_t bytes) = 0;
  };
  template <typename Handler> struct Impl final : Base {
    explicit Impl(Handler &&h) : handler(std::move(h)) {}
    explicit Impl(const Handler &h) : handler(h) {}
    void invoke(beast::error_code ec, std::size_t bytes) override {
      std::move(handler)(ec, bytes);
    }
    Handler handler;
  };

  executor_type executor;
  std::unique_ptr<Base> impl;
};

/// The first non-empty buffer of a sequence: what a read_some may fill (it
/// may fill less than the whole sequence; Beast and the TLS layer pass a
/// single buffer anyway).
template <typename MutableBuffers>
net::mutable_buffer firstBuffer(const MutableBuffers &buffers) {
  for (auto it = net::buffer_sequence_begin(buffers),
            end = net::buffer_sequence_end(buffers);
       it != end; ++it) {
    net::mutable_buffer b(*it);
    if (b.size() > 0)
      return b;
  }
  return net::mutable_buffer();
}

/// A buffer sequence as a list: a write_some is given the same buffers (a
/// gather write), in one type.
template <typename ConstBuffers>
std::vector<net::const_buffer> bufferList(const ConstBuffers &buffers) {
  std::vector<net::const_buffer> list;
  for (auto it = net::buffer_sequence_begin(buffers),
            end = net::buffer_sequence_end(buffers);
       it != end; ++it)
    list.emplace_back(*it);
  return list;
}

/// Every read and write on a TCP stream, plain or under TLS, goes through
/// these two: each TCP operation (with its deadline) is instantiated once.
void readTcp(beast::tcp_stream &tcp, net::mutable_buffer buffer,
             ErasedHandler handler) {
  tcp.async_read_some(buffer, std::move(handler));
}

void writeTcp(beast::tcp_stream &tcp, std::vector<net::const_buffer> buffers,
              ErasedHandler handler) {
  tcp.async_write_some(buffers, std::move(handler));
}

/// The TCP stream as the TLS layer's next layer. The TLS layer reads and
/// writes for each of its operations (handshake, read, write) with its own
/// handler types; they reach the TCP stream erased.
class ErasedTcp {
public:
  using executor_type = net::any_io_executor;
  using lowest_layer_type = beast::tcp_stream::socket_type;

  explicit ErasedTcp(beast::tcp_stream &tcp) : tcp(&tcp) {}

  executor_type get_executor() noexcept { return tcp->get_executor(); }
  lowest_layer_type &lowest_layer() noexcept { return tcp->socket(); }
  const lowest_layer_type &lowest_layer() const noexcept {
    return tcp->socket();
  }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers &buffers, Handler &&handler) {
    readTcp(*tcp, firstBuffer(buffers),
            ErasedHandler(std::forward<Handler>(handler), get_executor()));
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers &buffers, Handler &&handler) {
    writeTcp(*tcp, bufferList(buffers),
             ErasedHandler(std::forward<Handler>(handler), get_executor()));
  }

private:
  beast::tcp_stream *tcp;
};

using TlsStream = beast::ssl_stream<ErasedTcp>;

/// The one stream type Beast's HTTP write and read operations are
/// instantiated for: plain TCP or TLS over TCP, chosen at run time. Buffer
/// sequences and handlers are erased before they reach the real stream, so
/// each real stream's operations are instantiated once too (the generated
/// code for Beast's templates is most of this file's size).
class AnyStream {
public:
  using executor_type = net::any_io_executor;

  explicit AnyStream(beast::tcp_stream &plain) : plain(&plain) {}
  explicit AnyStream(TlsStream &tls) : tls(&tls) {}

  executor_type get_executor() noexcept {
    return tls ? tls->get_executor() : plain->get_executor();
  }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers &buffers, Handler &&handler) {
    readSome(firstBuffer(buffers),
             ErasedHandler(std::forward<Handler>(handler), get_executor()));
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers &buffers, Handler &&handler) {
    writeSome(bufferList(buffers),
              ErasedHandler(std::forward<Handler>(handler), get_executor()));
  }

private:
  void readSome(net::mutable_buffer buffer, ErasedHandler handler) {
    if (tls)
      tls->async_read_some(buffer, std::move(handler));
    else
      readTcp(*plain, buffer, std::move(handler));
  }

  void writeSome(std::vector<net::const_buffer> buffers,
                 ErasedHandler handler) {
    if (tls)
      tls->async_write_some(buffers, std::move(handler));
    else
      writeTcp(*plain, std::move(buffers), std::move(handler));
  }

  beast::tcp_stream *plain = nullptr;
  TlsStream *tls = nullptr;
};

class BeastTransport : public HttpTransport {
public:
  Expected<HttpResponse> send(const HttpRequest &request) override {
    try {
      return sendImpl(request);
    } catch (const std::exception &e) {
      return Error(ErrorCode::Http,
                   std::string("HTTP request failed: ") + e.what());
    } catch (...) {
      return Error(ErrorCode::Http, "HTTP request failed: unknown error");
    }
  }

private:
  std::mutex ctxMutex;
  std::unique_ptr<ssl::context> tlsContext;
  std::string tlsContextError;

  /// The client TLS context, built once per transport: verification on, CA
  /// bundle from SSL_CERT_FILE or the system's default locations.
  ssl::context *clientContext(std::string &err) {
    std::lock_guard<std::mutex> lock(ctxMutex);
    if (tlsContext) {
      return tlsContext.get();
    }
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    const char *certFile = std::getenv("SSL_CERT_FILE");
    if (certFile && *certFile) {
      ctx->load_verify_file(certFile, ec);
      if (ec) {
        ERR_clear_error();
        err = std::string("cannot load CA bundle from SSL_CERT_FILE=") +
              certFile + ": " + ec.message();
        return nullptr;
      }
    } else {
      ctx->set_default_verify_paths(ec);
      ERR_clear_error();
      // A static binary's compiled-in OpenSSL directory may not exist in
      // its container; the conventional bundle locations are tried too.
      static const char *const bundles[] = {
          "/etc/ssl/certs/ca-certificates.crt",
          "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"};
      for (const char *bundle : bundles) {
        if (fileExists(bundle)) {
          beast::error_code ignored;
          ctx->load_verify_file(bundle, ignored);
          ERR_clear_error();
          break;
        }
      }
    }
    tlsContext = std::move(ctx);
    return tlsContext.get();
  }

  /// The error of a failed operation. `limitMs` is the deadline that
  /// bounded it, for a timeout's message.
  Error transportError(const OpRunner &runner, beast::error_code ec,
                       const std::string &what, const HttpRequest &request,
                       const Url &url, const char *phase, int64_t limitMs) {
    if (runner.abandoned)
      return *runner.abandoned;
    std::string where = describe(request.method, url);
    if (ec == beast::error::timeout)
      return Error(ErrorCode::Timeout, where + ": timed out after " +
                                           std::to_string(limitMs) + " ms (" +
                                           phase + ")");
    if (ec == net::error::connection_refused)
      return Error(ErrorCode::Http,
                   where + ": connection refused by " + url.authority());
    if (ec == http::error::end_of_stream || ec == net::error::eof)
      return Error(ErrorCode::Http, where + ": " + url.authority() +
                                        " closed the connection without a "
                                        "complete reply");
    if (ec == http::error::partial_message)
      return Error(ErrorCode::Http,
                   where + ": truncated reply from " + url.authority());
    if (ec == http::error::body_limit)
      return Error(ErrorCode::Http,
                   where + ": reply from " + url.authority() + " exceeds the " +
                       std::to_string(kMaxHttpBodyBytes >> 20) +
                       " MiB body limit");
    if (ec == http::error::header_limit)
      return Error(ErrorCode::Http, where + ": reply headers from " +
                                        url.authority() + " are too large");
    if (ec.category() ==
        http::make_error_code(http::error::bad_version).category())
      return Error(ErrorCode::Http, where + ": malformed reply from " +
                                        url.authority() + ": " + ec.message());
    if (ec == net::error::connection_reset)
      return Error(ErrorCode::Http,
                   where + ": connection reset by " + url.authority());
    std::string msg = where + ": " + phase + " " + url.authority() +
                      " failed: " + ec.message();
    if (!what.empty())
      msg += " (" + what + ")";
    return Error(ErrorCode::Http, msg);
  }

  /// Connecting must end within the connect deadline, else the total one.
  static int64_t connectLimitMs(const HttpRequest &request) {
    if (request.connectTimeoutMs > 0 &&
        (request.timeoutMs <= 0 ||
         request.connectTimeoutMs < request.timeoutMs))
      return request.connectTimeoutMs;
    return request.timeoutMs;
  }

  Expected<HttpResponse> exchange(OpRunner &runner, beast::tcp_stream &tcp,
                                  Deadlines &deadlines, AnyStream stream,
                                  const HttpRequest &request, const Url &url) {
    http::request<http::string_body> req;
    http::verb verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown)
      req.method_string(request.method);
    else
      req.method(verb);
    req.target(url.target);
    req.version(11);
    for (const auto &h : request.headers)
      req.insert(h.first, h.second);
    if (req.find(http::field::host) == req.end())
      req.set(http::field::host, url.hostHeader());
    if (req.find(http::field::user_agent) == req.end())
      req.set(http::field::user_agent, "iterc-rt/1");
    req.set(http::field::connection, "close");
    req.body() = request.body;
    req.prepare_payload();

    Deadlines::arm(tcp, deadlines.total);
    beast::error_code ec =
        runner.run([&](OpDone done) { http::async_write(stream, req, done); });
    if (ec)
      return transportError(runner, ec, "", request, url, "writing to",
                            request.timeoutMs);

    // The first byte on its own deadline: a server that accepted the
    // request and never answers is given up on early.
    beast::flat_buffer buffer;
    bool firstByteBounded = request.firstByteTimeoutMs > 0 &&
                            (request.timeoutMs <= 0 ||
                             request.firstByteTimeoutMs < request.timeoutMs);
    Deadlines::arm(tcp, deadlines.firstByte());
    ec = runner.run([&](OpDone done) {
      stream.async_read_some(buffer.prepare(16384),
                             [&buffer, done](beast::error_code e, size_t n) {
                               buffer.commit(n);
                               done(e);
                             });
    });
    if (ec && ec != net::error::eof && ec != ssl::error::stream_truncated)
      return transportError(
          runner, ec, "", request, url,
          firstByteBounded ? "waiting for the first byte of the reply from"
                           : "reading from",
          firstByteBounded ? request.firstByteTimeoutMs : request.timeoutMs);
    Deadlines::arm(tcp, deadlines.total);

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxHttpBodyBytes);
    parser.header_limit(1 << 20);
    if (verb == http::verb::head)
      parser.skip(true);
    if (!ec) // At the end of the stream already: the parser sees it next.
      ec = runner.run(
          [&](OpDone done) { http::async_read(stream, buffer, parser, done); });
    if (ec == ssl::error::stream_truncated) {
      // The peer closed without close_notify: fine when the reply was
      // delimited by the end of the connection and is otherwise complete.
      beast::error_code eofEc;
      if (!parser.is_done())
        parser.put_eof(eofEc);
      ec = (parser.is_done() && !eofEc)
               ? beast::error_code()
               : beast::error_code(http::error::partial_message);
    }
    if (ec)
      return transportError(runner, ec, "", request, url, "reading from",
                            request.timeoutMs);

    auto msg = parser.release();
    HttpResponse response;
    response.status = static_cast<int>(msg.result_int());
    for (const auto &field : msg)
      response.headers.emplace_back(std::string(field.name_string()),
                                    std::string(field.value()));
    response.body = std::move(msg.body());
    return response;
  }

  Expected<HttpResponse> sendImpl(const HttpRequest &request) {
    auto url = parseUrl(request.url);
    if (!url)
      return url.error();

    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(url->host, url->port, ec);
    if (ec)
      return Error(ErrorCode::Http, describe(request.method, *url) +
                                        ": cannot resolve host '" + url->host +
                                        "': " + ec.message());

    OpRunner runner(ioc, request);
    Deadlines deadlines(request);
    deadlines.firstByteMs = request.firstByteTimeoutMs;
    // Arms the connect deadline and connects: one function for both kinds
    // of stream, so the connect operation is instantiated once.
    auto connect = [&](beast::tcp_stream &tcpStream) {
      runner.watch(tcpStream);
      Deadlines::arm(tcpStream, deadlines.connect);
      return runner.run(
          [&](OpDone done) { tcpStream.async_connect(endpoints, done); });
    };

    if (!url->tls) {
      beast::tcp_stream stream(ioc);
      ec = connect(stream);
      if (ec)
        return transportError(runner, ec, "", request, *url, "connecting to",
                              connectLimitMs(request));
      auto result =
          exchange(runner, stream, deadlines, AnyStream(stream), request, *url);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return result;
    }

    std::string ctxError;
    ssl::context *ctx = clientContext(ctxError);
    if (!ctx) // A configuration error: retrying would not help.
      return Error(ErrorCode::InvalidInput,
                   describe(request.method, *url) + ": " + ctxError);
    beast::tcp_stream lower(ioc); // under TLS; outlives `stream`
    TlsStream stream(lower, *ctx);
    SSL *ssl = stream.native_handle();
    // Host name (or IP address) verification, done by OpenSSL during the
    // handshake; SNI only for names, as RFC 6066 forbids literals.
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    beast::error_code addrEc;
    net::ip::make_address(url->host, addrEc);
    bool isAddress = !addrEc;
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int setOk = isAddress
                    ? X509_VERIFY_PARAM_set1_ip_asc(param, url->host.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, url->host.c_str(), 0);
    if (setOk != 1 ||
        (!isAddress && SSL_set_tlsext_host_name(ssl, url->host.c_str()) != 1)) {
      std::string detail = opensslErrors();
      return Error(ErrorCode::Http, describe(request.method, *url) +
                                        ": cannot set up TLS for host '" +
                                        url->host + "'" +
                                        (detail.empty() ? "" : ": " + detail));
    }

    ec = connect(lower);
    if (ec)
      return transportError(runner, ec, "", request, *url, "connecting to",
                            connectLimitMs(request));
    ERR_clear_error();
    ec = runner.run([&](OpDone done) {
      stream.async_handshake(ssl::stream_base::client, done);
    });
    if (ec) {
      if (ec == beast::error::timeout || runner.abandoned)
        return transportError(runner, ec, "", request, *url, "TLS handshake",
                              connectLimitMs(request));
      long verify = SSL_get_verify_result(ssl);
      std::string detail;
      if (verify != X509_V_OK)
        detail = std::string("certificate verification failed: ") +
                 X509_verify_cert_error_string(verify);
      else
        detail = ec.message();
      std::string queued = opensslErrors();
      if (verify == X509_V_OK && !queued.empty() &&
          detail.find(queued) == std::string::npos)
        detail += " [" + queued + "]";
      ERR_clear_error();
      Error failed(ErrorCode::Http,
                   describe(request.method, *url) + ": TLS handshake with " +
                       url->authority() + " failed: " + detail);
      // The same certificate fails the same way on every attempt.
      failed.permanent = verify != X509_V_OK;
      return failed;
    }
    auto result =
        exchange(runner, lower, deadlines, AnyStream(stream), request, *url);
    ERR_clear_error();
    beast::error_code ignored;
    lower.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return result;
  }
};

//===----------------------------------------------------------------------===//
// Retry policy
//===----------------------------------------------------------------------===//

std::mutex jitterMutex;
std::mt19937_64 &jitterEngine() {
  static std::mt19937_64 engine(0x1735c0de5eedULL);
  return engine;
}

int64_t withJitter(int64_t delay, double jitter) {
  if (jitter <= 0 || delay <= 0)
    return delay;
  double u;
  {
    std::lock_guard<std::mutex> lock(jitterMutex);
    std::uniform_real_distribution<double> dist(-jitter, jitter);
    u = dist(jitterEngine());
  }
  double jittered = static_cast<double>(delay) * (1.0 + u);
  return std::max<int64_t>(0, static_cast<int64_t>(std::llround(jittered)));
}

int64_t backoffDelay(const RetryPolicy &policy, int attempt) {
  int64_t maxDelay = std::max<int64_t>(0, policy.maxDelayMs);
  int64_t delay = std::max<int64_t>(0, policy.baseDelayMs);
  for (int i = 1; i < attempt && delay < maxDelay; ++i)
    delay *= 2;
  delay = std::min(delay, maxDelay);
  return std::min(withJitter(delay, policy.jitter), maxDelay);
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), so no
/// timegm/TZ dependency.
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int monthIndex(const char *name) {
  static const char *const months[] = {"jan", "feb", "mar", "apr",
                                       "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec"};
  std::string lower = toLower(name);
  for (int i = 0; i < 12; ++i)
    if (lower == months[i])
      return i + 1;
  return 0;
}

/// A left-to-right reader for the fixed date formats below (what sscanf
/// would do, without linking the scanf machinery into every executable).
class DateReader {
public:
  explicit DateReader(const std::string &text) : text(text) {}

  /// A run of ASCII letters (at least one).
  std::optional<std::string> letters() {
    size_t start = at;
    while (at < text.size() &&
           std::isalpha(static_cast<unsigned char>(text[at])))
      ++at;
    if (at == start)
      return std::nullopt;
    return text.substr(start, at - start);
  }
  /// A run of 1 to 9 decimal digits.
  std::optional<int> number() {
    size_t start = at;
    int value = 0;
    while (at < text.size() && at - start < 9 &&
           std::isdigit(static_cast<unsigned char>(text[at])))
      value = value * 10 + (text[at++] - '0');
    if (at == start)
      return std::nullopt;
    return value;
  }
  bool literal(char c) {
    if (at < text.size() && text[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  /// One or more spaces.
  bool spaces() {
    size_t start = at;
    while (at < text.size() && text[at] == ' ')
      ++at;
    return at > start;
  }
  /// `hh:mm:ss`.
  bool clock(int &hh, int &mm, int &ss) {
    auto h = number();
    if (!h || !literal(':'))
      return false;
    auto m = number();
    if (!m || !literal(':'))
      return false;
    auto s = number();
    if (!s)
      return false;
    hh = *h, mm = *m, ss = *s;
    return true;
  }
  bool atEnd() const { return at == text.size(); }

private:
  const std::string &text;
  size_t at = 0;
};

/// Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 §5.6.7)
/// into epoch ms.
std::optional<int64_t> parseHttpDate(const std::string &text) {
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  int month = 0;
  DateReader r(text);
  if (!r.letters())
    return std::nullopt;
  if (r.literal(',')) {
    r.spaces();
    auto d = r.number();
    if (!d)
      return std::nullopt;
    day = *d;
    std::optional<std::string> mon;
    if (r.literal('-')) {
      // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
      mon = r.letters();
      auto y = mon && r.literal('-') ? r.number() : std::nullopt;
      if (!y)
        return std::nullopt;
      year = *y < 100 ? *y + (*y < 70 ? 2000 : 1900) : *y;
    } else {
      // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      if (!r.spaces())
        return std::nullopt;
      mon = r.letters();
      auto y = mon && r.spaces() ? r.number() : std::nullopt;
      if (!y)
        return std::nullopt;
      year = *y;
    }
    if (!r.spaces() || !r.clock(hh, mm, ss) || !r.spaces() ||
        r.letters().value_or("") != "GMT")
      return std::nullopt;
    month = monthIndex(mon->c_str());
  } else {
    // asctime: Sun Nov  6 08:49:37 1994
    if (!r.spaces())
      return std::nullopt;
    std::optional<std::string> mon = r.letters();
    if (!mon || !r.spaces())
      return std::nullopt;
    auto d = r.number();
    if (!d || !r.spaces() || !r.clock(hh, mm, ss) || !r.spaces())
      return std::nullopt;
    auto y = r.number();
    if (!y)
      return std::nullopt;
    day = *d, year = *y;
    month = monthIndex(mon->c_str());
  }
  r.spaces();
  if (!r.atEnd() || month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
      ss > 60 || year < 1970)
    return std::nullopt;
  int64_t days = daysFromCivil(year, static_cast<unsigned>(month),
                               static_cast<unsigned>(day));
  return ((days * 24 + hh) * 60 + mm) * 60000 + int64_t(ss) * 1000;
}

/// The delay a Retry-After value asks for, in ms, or nullopt when absent or
/// unusable.
std::optional<int64_t> retryAfterMs(const std::string &raw, Clock &clock) {
  std::string value = trim(raw);
  if (value.empty())
    return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
      })) {
    char *end = nullptr;
    double seconds = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0' || !(seconds >= 0))
      return std::nullopt;
    if (seconds > 1e9)
      seconds = 1e9;
    return static_cast<int64_t>(std::llround(seconds * 1000.0));
  }
  auto when = parseHttpDate(value);
  if (!when)
    return std::nullopt;
  auto now = parseTimestamp(clock.timestamp());
  int64_t nowMs = now ? *now
                      : std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  return std::max<int64_t>(0, *when - nowMs);
}

bool retryableStatus(int status) {
  return status == 429 || (status >= 500 && status <= 599);
}

} // namespace

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

std::string HttpResponse::header(std::string_view name) const {
  for (const auto &h : headers)
    if (equalsIgnoreCase(h.first, name))
      return h.second;
  return "";
}

std::unique_ptr<HttpTransport> iterc::rt::makeHttpTransport() {
  return std::make_unique<BeastTransport>();
}

void iterc::rt::setRetryJitterSeed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(jitterMutex);
  jitterEngine().seed(seed);
}

/// Sleeps `delayMs` through the clock, in slices when the request can be
/// abandoned; the reason when it was.
static std::optional<Error> sleepUnlessAbandoned(const HttpRequest &request,
                                                 Clock &clock,
                                                 int64_t delayMs) {
  constexpr int64_t slice = 100;
  for (;;) {
    if (request.abandon)
      if (std::optional<Error> reason = request.abandon())
        return reason;
    if (delayMs <= 0)
      return std::nullopt;
    int64_t step = request.abandon ? std::min(slice, delayMs) : delayMs;
    clock.sleepMs(step);
    delayMs -= step;
  }
}

Expected<HttpResponse> iterc::rt::sendWithRetry(
    HttpTransport &transport, const HttpRequest &request,
    const RetryPolicy &policy, Clock &clock,
    const std::function<void(const RetryEvent &)> &onRetry) {
  int maxAttempts = std::max(1, policy.maxAttempts);
  int timedOut = 0;
  for (int attempt = 1;; ++attempt) {
    Expected<HttpResponse> result = transport.send(request);
    RetryEvent event;
    event.attempt = attempt;
    if (result) {
      int status = result->status;
      if (!retryableStatus(status) || attempt >= maxAttempts)
        return result;
      event.reason = "status " + std::to_string(status);
      event.delayMs = backoffDelay(policy, attempt);
      if (status == 429 || status == 503) {
        if (auto hint = retryAfterMs(result->header("Retry-After"), clock))
          event.delayMs =
              std::min(*hint, std::max<int64_t>(0, policy.maxDelayMs));
      }
    } else {
      const Error &err = result.error();
      bool transportFailure =
          err.code == ErrorCode::Http || err.code == ErrorCode::Timeout;
      if (!transportFailure || err.permanent)
        return result;
      if (err.code == ErrorCode::Timeout)
        ++timedOut;
      bool last = attempt >= maxAttempts ||
                  (err.code == ErrorCode::Timeout &&
                   timedOut >= std::max(1, policy.maxTimedOutAttempts));
      if (last) {
        if (attempt == 1)
          return result;
        return Error(err.code, err.message + " (after " +
                                   std::to_string(attempt) + " attempts)");
      }
      event.reason = err.message;
      event.delayMs = backoffDelay(policy, attempt);
    }
    if (onRetry)
      onRetry(event);
    // A retry never starts once the request is abandoned.
    if (std::optional<Error> reason =
            sleepUnlessAbandoned(request, clock, event.delayMs))
      return *reason;
  }
}
