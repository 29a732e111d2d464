#!/usr/bin/env python3
"""A fake LLM server for iterc's end-to-end tests and cassette recording.

Speaks, on 127.0.0.1 only:

  POST .../chat/completions   OpenAI chat completions (OPENAI_BASE_URL=
                              http://127.0.0.1:PORT/v1, also OpenRouter and
                              Ollama's /v1), with `response_format:
                              json_schema` structured output and tool calls
  POST .../messages           Anthropic messages (ANTHROPIC_BASE_URL=
                              http://127.0.0.1:PORT), structured output through
                              the tool the runtime forces with tool_choice
  GET  /health                200 "ok"

Usage:

  fake_llm_server.py --replies examples/replies/pr_review.json \
      [--port 0] [--log requests.jsonl] \
      [--tls-cert tests/e2e/tls_test_cert.pem \
       --tls-key tests/e2e/tls_test_key.pem]

With --tls-cert and --tls-key it speaks HTTPS (clients trust the test
certificate through SSL_CERT_FILE; it is valid for localhost and 127.0.0.1).

The first line printed on stdout is the port the server listens on (port 0
picks a free one); then the server runs until it is killed (SIGTERM/SIGINT).

Replies
-------
A replies file is a JSON object whose "replies" member maps a *key* to a list
of replies served in order. The key of a request is the name of the JSON
schema it asks for: `response_format.json_schema.name` for OpenAI, the name
of the tool the runtime forces (`tool_choice.name`, or the tool described as
"Give the final answer ...") for Anthropic. The runtime names that schema
after the node's `output:` schema (e.g. "review", "verdict"); an LLM router
asks for "<router>_output" and a human node answered by a model for
"<node>_output", so for those the key is the node name plus "_output". A
request without any structured output uses the key "_text".

Each reply is an object with exactly one of

  "output":     the structured answer (a JSON object)
  "tool_calls": [{"name": "read_file", "arguments": {...}}, ...]
  "text":       a raw text answer (e.g. malformed JSON)

and optionally

  "match":      a string or a list of strings that must all occur in the
                request's messages (system prompt included) for this reply
                to be used; replies whose match fails are skipped, so
                parallel nodes sharing a schema get their own replies
  "usage":      {"input_tokens": N, "output_tokens": M} instead of the
                estimate (about 4 characters per token)
  "invalid":    true to skip the check that "output" has the schema's
                required fields

A request takes the first unused reply of its key whose "match" holds; a
request with no reply left gets HTTP 500 with a message naming the key, the
replies file and the start of the last user message. Each reply is served
once, so a loop's "fail, fail, pass" is three replies under one key.

Other members of the replies file ("vars", "runs", "workspace", ...) are for
the tests and scripts/record-cassettes; this server ignores them.
"""

import argparse
import http.server
import json
import ssl
import sys
import threading

CREATED = 1700000000  # A fixed timestamp: replies are deterministic.


def collect_strings(value, out):
    """Every string inside a JSON value, depth first."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            collect_strings(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            collect_strings(item, out)


def estimate_tokens(text):
    return max(1, (len(text) + 3) // 4)


class Replies:
    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a JSON object")
        replies = doc.get("replies", {})
        if not isinstance(replies, dict):
            raise ValueError(f"{path}: \"replies\" must map keys to lists")
        self.replies = {}
        for key, items in replies.items():
            if not isinstance(items, list):
                raise ValueError(f"{path}: replies[{key!r}] must be a list")
            for i, item in enumerate(items):
                kinds = [k for k in ("output", "tool_calls", "text")
                         if k in item] if isinstance(item, dict) else []
                if len(kinds) != 1:
                    raise ValueError(
                        f"{path}: replies[{key!r}][{i}] needs exactly one of "
                        "\"output\", \"tool_calls\", \"text\"")
            self.replies[key] = items
        self.used = {key: [False] * len(items)
                     for key, items in self.replies.items()}
        self.lock = threading.Lock()

    def take(self, key, request_text):
        """(index, reply) of the first unused matching reply, or None."""
        with self.lock:
            items = self.replies.get(key, [])
            for i, item in enumerate(items):
                if self.used[key][i]:
                    continue
                match = item.get("match", [])
                if isinstance(match, str):
                    match = [match]
                if all(m in request_text for m in match):
                    self.used[key][i] = True
                    return i, item
            return None

    def describe_miss(self, key, last_user):
        items = self.replies.get(key)
        preview = " ".join(last_user.split())[:160]
        if items is None:
            known = ", ".join(sorted(self.replies)) or "none"
            why = f"no replies for key '{key}' (keys: {known})"
        else:
            served = sum(self.used[key])
            if served == len(items):
                detail = f"all {served} served"
            else:
                detail = (f"{served} of {len(items)} served; the others do "
                          "not match this request")
            why = f"no reply left for key '{key}' ({detail})"
        return (f"fake_llm_server: {why} in {self.path}; last user message: "
                f"\"{preview}\"")


def missing_required(output, schema):
    if not isinstance(schema, dict) or not isinstance(output, dict):
        return []
    return [f for f in schema.get("required", []) if f not in output]


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "fake-llm/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # Quiet: the --log file has it all.
        pass

    # ---- plumbing -------------------------------------------------------
    def send_json(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def fail(self, status, message, kind="invalid_request_error"):
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        self.log_request_line({"status": status, "error": message})
        self.send_json(status, {"type": "error",
                                "error": {"type": kind, "message": message}})

    def log_request_line(self, record):
        log = self.server.log_file
        if not log:
            return
        record = dict(record)
        record.setdefault("path", self.path)
        with self.server.log_lock:
            log.write(json.dumps(record) + "\n")
            log.flush()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return None, f"request body is not JSON: {e}"
        if not isinstance(body, dict):
            return None, "request body is not a JSON object"
        return body, None

    def do_GET(self):
        if self.path.rstrip("/") in ("/health", "/v1/health"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.fail(404, f"fake_llm_server: no GET route {self.path}",
                  "not_found_error")

    def do_POST(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        body, problem = self.read_body()
        if problem:
            self.fail(400, "fake_llm_server: " + problem)
            return
        if path.endswith("/chat/completions"):
            self.openai(body)
        elif path.endswith("/messages"):
            self.anthropic(body)
        else:
            self.fail(404, f"fake_llm_server: no POST route {self.path}",
                      "not_found_error")

    # ---- shared ---------------------------------------------------------
    def pick(self, key, texts, last_user, schema):
        """The reply for a request, or None after answering with an error."""
        request_text = "\n".join(texts)
        taken = self.server.replies.take(key, request_text)
        if taken is None:
            self.fail(500, self.server.replies.describe_miss(key, last_user),
                      "api_error")
            return None
        index, reply = taken
        if "output" in reply and not reply.get("invalid"):
            missing = missing_required(reply["output"], schema)
            if missing:
                self.fail(500, f"fake_llm_server: replies[{key!r}][{index}] "
                               f"lacks required fields {missing} of the "
                               f"schema the request asks for "
                               f"({self.server.replies.path})", "api_error")
                return None
        return index, reply

    @staticmethod
    def usage_for(reply, request_text, answer_text):
        usage = reply.get("usage") or {}
        inp = usage.get("input_tokens", estimate_tokens(request_text))
        out = usage.get("output_tokens", estimate_tokens(answer_text))
        return int(inp), int(out)

    # ---- OpenAI chat completions ---------------------------------------
    def openai(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            self.fail(401, "fake_llm_server: missing 'Authorization: Bearer' "
                           "header (set OPENAI_API_KEY)",
                      "authentication_error")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self.fail(400, "fake_llm_server: 'messages' must be a non-empty "
                           "array")
            return
        schema = None
        key = "_text"
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            js = fmt.get("json_schema") or {}
            key = js.get("name") or "_text"
            schema = js.get("schema")
        texts = []
        collect_strings(messages, texts)
        last_user = ""
        for m in messages:
            if isinstance(m, dict) and m.get("role") == "user" and \
                    isinstance(m.get("content"), str):
                last_user = m["content"]
        picked = self.pick(key, texts, last_user, schema)
        if picked is None:
            return
        index, reply = picked
        message = {"role": "assistant", "content": None}
        finish = "stop"
        if "tool_calls" in reply:
            calls = []
            for j, call in enumerate(reply["tool_calls"]):
                calls.append({
                    "id": f"call_{key}_{index}_{j}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": json.dumps(call.get("arguments", {})),
                    },
                })
            message["tool_calls"] = calls
            finish = "tool_calls"
            answer_text = json.dumps(calls)
        elif "output" in reply:
            message["content"] = json.dumps(reply["output"])
            answer_text = message["content"]
        else:
            message["content"] = reply["text"]
            answer_text = reply["text"]
        request_text = "\n".join(texts) + json.dumps(body.get("tools", [])) + \
            json.dumps(schema or {})
        inp, out = self.usage_for(reply, request_text, answer_text)
        self.log_request_line({"api": "openai", "key": key, "index": index,
                               "model": body.get("model"),
                               "max_tokens": body.get("max_tokens"),
                               "tools": [t.get("function", {}).get("name")
                                         for t in body.get("tools", [])]})
        self.send_json(200, {
            "id": f"chatcmpl-fake-{key}-{index}",
            "object": "chat.completion",
            "created": CREATED,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message,
                         "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": inp, "completion_tokens": out,
                      "total_tokens": inp + out},
        })

    # ---- Anthropic messages --------------------------------------------
    def anthropic(self, body):
        if not self.headers.get("x-api-key"):
            self.fail(401, "fake_llm_server: missing 'x-api-key' header (set "
                           "ANTHROPIC_API_KEY)", "authentication_error")
            return
        if not self.headers.get("anthropic-version"):
            self.fail(400, "fake_llm_server: missing 'anthropic-version' "
                           "header")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self.fail(400, "fake_llm_server: 'messages' must be a non-empty "
                           "array")
            return
        if not isinstance(body.get("max_tokens"), int):
            self.fail(400, "fake_llm_server: 'max_tokens' is required")
            return
        tools = body.get("tools") or []
        choice = body.get("tool_choice") or {}
        structured = None
        if choice.get("type") == "tool":
            structured = choice.get("name")
        else:
            for t in tools:
                if str(t.get("description", "")).startswith(
                        "Give the final answer"):
                    structured = t.get("name")
        schema = None
        for t in tools:
            if t.get("name") == structured:
                schema = t.get("input_schema")
        key = structured or "_text"
        texts = []
        if isinstance(body.get("system"), str):
            texts.append(body["system"])
        collect_strings(messages, texts)
        last_user = ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") != "user":
                continue
            content = m.get("content")
            if isinstance(content, str):
                last_user = content
            elif isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "text":
                        last_user = block.get("text", "")
        picked = self.pick(key, texts, last_user, schema)
        if picked is None:
            return
        index, reply = picked
        if "tool_calls" in reply:
            content = [{"type": "text",
                        "text": "Let me look at the workspace first."}]
            for j, call in enumerate(reply["tool_calls"]):
                content.append({"type": "tool_use",
                                "id": f"toolu_{key}_{index}_{j}",
                                "name": call["name"],
                                "input": call.get("arguments", {})})
            stop = "tool_use"
        elif "output" in reply:
            if structured is None:
                self.fail(500, f"fake_llm_server: replies[{key!r}][{index}] "
                               "has an \"output\" but the request forces no "
                               "structured-output tool", "api_error")
                return
            content = [{"type": "tool_use", "id": f"toolu_{key}_{index}",
                        "name": structured, "input": reply["output"]}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": reply["text"]}]
            stop = "end_turn"
        request_text = "\n".join(texts) + json.dumps(tools)
        inp, out = self.usage_for(reply, request_text, json.dumps(content))
        self.log_request_line({"api": "anthropic", "key": key, "index": index,
                               "model": body.get("model"),
                               "max_tokens": body.get("max_tokens"),
                               "tools": [t.get("name") for t in tools]})
        self.send_json(200, {
            "id": f"msg_fake_{key}_{index}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": inp, "output_tokens": out},
        })


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(
        description="Fake OpenAI/Anthropic server answering from a replies "
                    "file (see the module docstring).")
    parser.add_argument("--replies", required=True,
                        help="examples/replies/<example>.json")
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--log", help="append one JSON line per request")
    parser.add_argument("--tls-cert",
                        help="speak HTTPS with this PEM certificate "
                             "(tests/e2e/tls_test_cert.pem)")
    parser.add_argument("--tls-key", help="the certificate's PEM key")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        sys.stderr.write("fake_llm_server: --tls-cert and --tls-key go "
                         "together\n")
        return 2
    try:
        replies = Replies(args.replies)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"fake_llm_server: {e}\n")
        return 2
    server = Server(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.replies = replies
    server.log_file = open(args.log, "a", encoding="utf-8") if args.log \
        else None
    server.log_lock = threading.Lock()
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
