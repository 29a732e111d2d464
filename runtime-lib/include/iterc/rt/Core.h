//===- Core.h - Values, errors and results of the runtime -------*- C++ -*-===//
//
// This file declares the vocabulary every part of runtime-lib shares: the
// JSON value type, a small Expected<T> for fallible calls (no exception
// crosses a runtime API), and the error codes that end up in events and in
// a run's final status.
//
//===----------------------------------------------------------------------===//
#ifndef ITERC_RT_CORE_H
#define ITERC_RT_CORE_H

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace iterc::rt {

/// JSON with insertion-ordered objects: what a node produced is kept in the
/// order it was produced, so stored artifacts and events are deterministic.
using Json = nlohmann::ordered_json;

enum class ErrorCode {
  Internal,
  InvalidInput, ///< Bad --var, bad answers, bad cassette...
  Http,         ///< Transport failure after retries.
  HttpStatus,   ///< A non-retryable HTTP status (400, 401, 403...).
  Timeout,
  Provider,      ///< A provider replied with something unusable.
  SchemaInvalid, ///< Structured output still invalid after re-asks.
  ReplayMiss,    ///< No cassette entry for a request.
  Tool,          ///< A tool could not run or failed.
  ToolTimeout,
  NotApproved,   ///< A tool needing approval was refused.
  Budget,        ///< A budget limit was reached.
  LoopExhausted, ///< A loop's cap was reached with no other way out.
  NoProgress,    ///< A loop stopped changing its result.
  NoOutgoingEdge,
  WorkspaceEscape, ///< A generated file tried to leave the workspace.
  Store,           ///< The run store could not be read or written.
  Cancelled,
  FailNode, ///< The workflow reached `fail`.
  /// A workflow shape the runtime cannot run (a human gate inside a
  /// parallel branch): no resume can mend it.
  Unsupported,
};

const char *errorCodeName(ErrorCode code);

/// The SHA-256 of `data`, in lowercase hex.
std::string sha256Hex(std::string_view data);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  /// A transport failure that trying again cannot mend (a certificate that
  /// does not verify): sendWithRetry gives up at once.
  bool permanent = false;

  Error() = default;
  Error(ErrorCode code, std::string message)
      : code(code), message(std::move(message)) {}
};

/// A value or an error.
template <typename T> class Expected {
public:
  Expected(T value) : storage(std::move(value)) {}
  Expected(Error error) : storage(std::move(error)) {}

  explicit operator bool() const { return storage.index() == 0; }
  bool ok() const { return storage.index() == 0; }
  T &value() { return std::get<0>(storage); }
  const T &value() const { return std::get<0>(storage); }
  T &operator*() { return value(); }
  const T &operator*() const { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  const Error &error() const { return std::get<1>(storage); }

private:
  std::variant<T, Error> storage;
};

/// Success or an error.
class Status {
public:
  Status() = default;
  Status(Error error) : err(std::move(error)) {}
  static Status success() { return Status(); }
  bool ok() const { return !err.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error &error() const { return *err; }

private:
  std::optional<Error> err;
};

/// Parses JSON without throwing; nullopt on malformed text.
std::optional<Json> parseJson(std::string_view text);

} // namespace iterc::rt

#endif // ITERC_RT_CORE_H
