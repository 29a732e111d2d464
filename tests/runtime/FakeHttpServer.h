//===- FakeHttpServer.h - A scriptable HTTP(S) server for tests -*- C++ -*-===//
//
// This file declares a small HTTP/1.1 server for the runtime's tests. It
// listens on 127.0.0.1 on an ephemeral port, serves each connection on its
// own thread, records every request it reads and answers through a handler.
// A reply can be delayed, cut off mid-body, dropped without a byte, or never
// sent, so transports can be tested against slow and broken servers. With a
// certificate it speaks TLS; makeSelfSignedCert makes one at test time.
// Header-only so that it needs no build change; everything is inline.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_TESTS_RUNTIME_FAKEHTTPSERVER_H
#define ITERC_TESTS_RUNTIME_FAKEHTTPSERVER_H

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace iterc::test {

struct FakeRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first header with this name (case-insensitive), or "".
  std::string header(const std::string &name) const {
    for (const auto &h : headers) {
      if (h.first.size() != name.size())
        continue;
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(h.first[i])) ==
               std::tolower(static_cast<unsigned char>(name[i]));
      if (same)
        return h.second;
    }
    return "";
  }
};

struct FakeReply {
  enum class Mode {
    Normal,   ///< The whole reply.
    Truncate, ///< Headers announce the whole body; half of it is sent.
    Drop,     ///< Close the connection without sending anything.
    Hang,     ///< Never answer (until the client leaves or the server stops).
    Stall,    ///< Headers and half the body, then nothing (as Hang).
  };
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int delayMs = 0; ///< Wait this long before replying.
  Mode mode = Mode::Normal;

  static FakeReply json(int status, std::string body) {
    FakeReply r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }
};

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
inline int unusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

/// A self-signed certificate (PEM) and its EC P-256 key (PEM), valid for
/// the given subjectAltName list, e.g. "DNS:localhost,IP:127.0.0.1".
inline std::pair<std::string, std::string>
makeSelfSignedCert(const std::string &subjectAltNames) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24);
  X509_set_pubkey(cert, key);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char *>("iterc test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const std::pair<int, std::string> extensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_subject_alt_name, subjectAltNames}};
  for (const auto &ext : extensions) {
    X509_EXTENSION *e =
        X509V3_EXT_conf_nid(nullptr, &ctx, ext.first, ext.second.c_str());
    X509_add_ext(cert, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(cert, key, EVP_sha256());
  auto toPem = [](auto write) {
    BIO *bio = BIO_new(BIO_s_mem());
    write(bio);
    char *data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(bio);
    return out;
  };
  std::string certPem = toPem([&](BIO *b) { PEM_write_bio_X509(b, cert); });
  std::string keyPem = toPem([&](BIO *b) {
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {certPem, keyPem};
}

class FakeHttpServer {
public:
  using Handler = std::function<FakeReply(const FakeRequest &)>;

  /// Plain HTTP, or TLS when certPem/keyPem are given.
  explicit FakeHttpServer(Handler handler, const std::string &certPem = "",
                          const std::string &keyPem = "")
      : handler(std::move(handler)) {
    if (!certPem.empty())
      setUpTls(certPem, keyPem);
    listenFd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listenFd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) !=
            0 ||
        ::listen(listenFd, 64) != 0)
      throw std::runtime_error("FakeHttpServer: cannot listen");
    socklen_t len = sizeof(addr);
    ::getsockname(listenFd, reinterpret_cast<sockaddr *>(&addr), &len);
    portNumber = ntohs(addr.sin_port);
    acceptThread = std::thread([this] { acceptLoop(); });
  }

  ~FakeHttpServer() {
    stop();
    if (tlsCtx)
      SSL_CTX_free(tlsCtx);
  }

  FakeHttpServer(const FakeHttpServer &) = delete;
  FakeHttpServer &operator=(const FakeHttpServer &) = delete;

  int port() const { return portNumber; }
  std::string url(const std::string &path = "/") const {
    return std::string(tlsCtx ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(portNumber) + path;
  }
  std::string baseUrl() const { return url(""); }

  std::vector<FakeRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex);
    return received;
  }
  size_t requestCount() const {
    std::lock_guard<std::mutex> lock(mutex);
    return received.size();
  }
  /// Connections accepted (including ones that never sent a request).
  int connectionCount() const { return connections.load(); }

  void stop() {
    if (stopping.exchange(true))
      return;
    if (acceptThread.joinable())
      acceptThread.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mutex);
      workers.swap(connectionThreads);
    }
    for (auto &t : workers)
      t.join();
    ::close(listenFd);
  }

private:
  struct Conn {
    int fd = -1;
    SSL *ssl = nullptr;

    /// Waits for readable data in small steps so that stop() is noticed.
    bool waitReadable(const std::atomic<bool> &stopping) {
      if (ssl && SSL_pending(ssl) > 0)
        return true;
      while (!stopping) {
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, 20);
        if (r > 0)
          return true;
        if (r < 0)
          return false;
      }
      return false;
    }
    long read(char *buf, size_t n) {
      if (ssl)
        return SSL_read(ssl, buf, static_cast<int>(n));
      return ::recv(fd, buf, n, 0);
    }
    bool writeAll(const std::string &data) {
      size_t off = 0;
      while (off < data.size()) {
        long n = ssl ? SSL_write(ssl, data.data() + off,
                                 static_cast<int>(data.size() - off))
                     : ::send(fd, data.data() + off, data.size() - off,
                              MSG_NOSIGNAL);
        if (n <= 0)
          return false;
        off += static_cast<size_t>(n);
      }
      return true;
    }
    void close() {
      if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
        ssl = nullptr;
      }
      if (fd >= 0)
        ::close(fd);
      fd = -1;
    }
  };

  void setUpTls(const std::string &certPem, const std::string &keyPem) {
    tlsCtx = SSL_CTX_new(TLS_server_method());
    BIO *cb = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
    X509 *cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO *kb = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
    EVP_PKEY *key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    if (!cert || !key || SSL_CTX_use_certificate(tlsCtx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(tlsCtx, key) != 1)
      throw std::runtime_error("FakeHttpServer: bad certificate or key");
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
  }

  void acceptLoop() {
    while (!stopping) {
      pollfd p{listenFd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int fd = ::accept(listenFd, nullptr, nullptr);
      if (fd < 0)
        continue;
      ++connections;
      std::lock_guard<std::mutex> lock(mutex);
      connectionThreads.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    Conn conn;
    conn.fd = fd;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (tlsCtx) {
      conn.ssl = SSL_new(tlsCtx);
      SSL_set_fd(conn.ssl, fd);
      if (SSL_accept(conn.ssl) != 1) {
        ERR_clear_error();
        SSL_free(conn.ssl);
        conn.ssl = nullptr;
        conn.close();
        return;
      }
    }
    FakeRequest request;
    if (!readRequest(conn, request)) {
      conn.close();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      received.push_back(request);
    }
    FakeReply reply = handler(request);
    for (int waited = 0; waited < reply.delayMs && !stopping; waited += 5)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    switch (reply.mode) {
    case FakeReply::Mode::Drop:
      conn.close();
      return;
    case FakeReply::Mode::Hang: {
      // Until the client gives up (EOF) or the server stops.
      char buf[256];
      while (conn.waitReadable(stopping) && conn.read(buf, sizeof(buf)) > 0) {
      }
      conn.close();
      return;
    }
    case FakeReply::Mode::Stall:
    case FakeReply::Mode::Truncate:
      if (reply.body.size() < 2)
        reply.body = "{\"truncated\": \"reply body that never ends\"}";
      break;
    case FakeReply::Mode::Normal:
      break;
    }
    std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                       reason(reply.status) + "\r\n";
    for (const auto &h : reply.headers)
      head += h.first + ": " + h.second + "\r\n";
    head += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    head += "Connection: close\r\n\r\n";
    bool half = reply.mode == FakeReply::Mode::Truncate ||
                reply.mode == FakeReply::Mode::Stall;
    std::string body =
        half ? reply.body.substr(0, reply.body.size() / 2) : reply.body;
    conn.writeAll(head + body);
    if (reply.mode == FakeReply::Mode::Stall) {
      char buf[256];
      while (conn.waitReadable(stopping) && conn.read(buf, sizeof(buf)) > 0) {
      }
    }
    conn.close();
  }

  bool readRequest(Conn &conn, FakeRequest &request) {
    std::string data;
    char buf[4096];
    size_t headerEnd;
    while ((headerEnd = data.find("\r\n\r\n")) == std::string::npos) {
      if (!conn.waitReadable(stopping))
        return false;
      long n = conn.read(buf, sizeof(buf));
      if (n <= 0)
        return false;
      data.append(buf, static_cast<size_t>(n));
      if (!std::isupper(static_cast<unsigned char>(data[0]))) {
        // Not HTTP (say, a TLS ClientHello): answer as real servers do.
        conn.writeAll("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
        return false;
      }
    }
    std::string head = data.substr(0, headerEnd);
    std::string rest = data.substr(headerEnd + 4);
    size_t lineEnd = head.find("\r\n");
    std::string requestLine = head.substr(0, lineEnd);
    size_t sp1 = requestLine.find(' ');
    size_t sp2 = requestLine.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos)
      return false;
    request.method = requestLine.substr(0, sp1);
    request.target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos)
        end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
          value.erase(0, 1);
        request.headers.emplace_back(line.substr(0, colon), value);
      }
      pos = end + 2;
    }
    size_t length = 0;
    std::string cl = request.header("Content-Length");
    if (!cl.empty())
      length = static_cast<size_t>(std::stoul(cl));
    while (rest.size() < length) {
      if (!conn.waitReadable(stopping))
        return false;
      long n = conn.read(buf, sizeof(buf));
      if (n <= 0)
        return false;
      rest.append(buf, static_cast<size_t>(n));
    }
    request.body = rest.substr(0, length);
    return true;
  }

  static std::string reason(int status) {
    switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
    }
  }

  Handler handler;
  SSL_CTX *tlsCtx = nullptr;
  int listenFd = -1;
  int portNumber = 0;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};
  std::thread acceptThread;
  mutable std::mutex mutex;
  std::vector<FakeRequest> received;
  std::vector<std::thread> connectionThreads;
};

} // namespace iterc::test

#endif // ITERC_TESTS_RUNTIME_FAKEHTTPSERVER_H
