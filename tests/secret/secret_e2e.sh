#!/usr/bin/env bash
# Secrets end to end: tests/secret/canary.iter compiled with the real
# `iterc build`, run against tests/e2e/fake_llm_server.py on loopback.
#
#   tests/secret/secret_e2e.sh ITERC SOURCE_DIR
#
# The secret variable `token` (given with --var) and the environment value
# its sibling `auth` reads ($ITERC_E2E_SECRET_ENV) hold canaries. The run
# (the fake server answers only a request holding both canaries and the
# tool's echoed output, tests/secret/echo.replies.json, so an answered call
# proves they reached the model) (1) pauses at the human gate, then resumes
# to success — the resume without --var token is refused and names the
# variable; (2) fails with a provider error that quotes the request (the
# fake server answers 500 with the start of the prompt when it has no
# reply); (3) stops on a token budget (the writer's call exceeds it, the
# editor's is not made). After each, no canary may appear in stdout, stderr, the whole run
# store, the cassette written by --record, inspect or report.
set -euo pipefail

ITERC=${1:?usage: secret_e2e.sh ITERC SOURCE_DIR}
SRC=${2:?missing SOURCE_DIR}
CANARY=CANARY-7f3a9
ENV_CANARY=ENVCANARY-51c2

if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIPPED: python3 is not installed (tests/e2e/fake_llm_server.py)"
  exit 77
fi

WORK=$(mktemp -d /tmp/iterc-secret-XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for f in "$WORK"/*.out "$WORK"/*.err; do
    [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
  done
  exit 1
}

# Starts the fake server with a replies file; sets PORT.
start_server() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -f "$WORK/port"
  python3 "$SRC/tests/e2e/fake_llm_server.py" --replies "$1" \
    --log "$WORK/requests.jsonl" > "$WORK/port" 2>/dev/null &
  SERVER_PID=$!
  for _ in $(seq 100); do
    [ -s "$WORK/port" ] && break
    sleep 0.1
  done
  PORT=$(head -1 "$WORK/port")
  [ -n "$PORT" ] || fail "the fake server did not start"
}

# Fails when a canary is anywhere in the files or directories given.
no_canary() {
  local what=$1
  shift
  if grep -r -l -e "$CANARY" -e "$ENV_CANARY" "$@" 2>/dev/null; then
    grep -r -o -h ".\{0,60\}\($CANARY\|$ENV_CANARY\).\{0,20\}" "$@" | head -5
    fail "a secret leaked into $what"
  fi
}

# The canary executable: run STEP ARGS... -> $WORK/STEP.out, .err, exit code.
run_step() {
  local step=$1
  shift
  set +e
  env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u ITERC_CASSETTE \
    -u ITERC_STORE_DIR LC_ALL=C \
    OPENAI_API_KEY=sk-e2e-secret-key-0001 \
    OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" \
    ITERC_E2E_SECRET_ENV=$ENV_CANARY \
    "$WORK/canary" "$@" --store-dir "$WORK/store" \
    > "$WORK/$step.out" 2> "$WORK/$step.err"
  CODE=$?
  set -e
}

# Everything a person can read of run $1.
check_views() {
  run_step inspect-$1 inspect --run-id "$1" --events
  [ "$CODE" = 0 ] || fail "inspect $1 exited $CODE"
  run_step inspect-json-$1 inspect --run-id "$1" --events --json
  run_step report-$1 report --run-id "$1"
  [ "$CODE" = 0 ] || fail "report $1 exited $CODE"
  no_canary "inspect or report of $1" "$WORK"/inspect-*.out \
    "$WORK"/report-*.out
}

mkdir -p "$WORK/ws"
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build "$SRC/tests/secret/canary.iter" \
  -o "$WORK/canary" >/dev/null

# 1. Pause at the gate, resume (the secret must be given again), finish.
start_server "$SRC/tests/secret/echo.replies.json"
run_step paused run --run-id gate --workspace "$WORK/ws" --var "token=$CANARY" \
  --record "$WORK/gate.cassette.json"
[ "$CODE" = 3 ] || fail "the run did not pause (exit $CODE)"
grep -q -- "--var token=<secret>" "$WORK/paused.out" ||
  fail "the resume command does not ask for the secret again"
run_step missing resume --run-id gate --answer approved=true
[ "$CODE" = 2 ] || fail "a resume without the secret exited $CODE"
grep -q "variable 'token' is secret" "$WORK/missing.err" ||
  fail "the refused resume does not name the secret variable"
run_step resumed resume --run-id gate --var "token=$CANARY" \
  --answer approved=true --record "$WORK/gate.cassette.json" --json
[ "$CODE" = 0 ] || fail "the resumed run did not finish (exit $CODE)"
no_canary "the output of the paused and resumed run" "$WORK"/*.out "$WORK"/*.err
no_canary "the run store" "$WORK/store"
no_canary "the cassette" "$WORK/gate.cassette.json"
check_views gate

# 2. A provider error quoting the prompt.
start_server "$SRC/tests/secret/none.replies.json"
run_step failed run --run-id broken --workspace "$WORK/ws" \
  --var "token=$CANARY" --record "$WORK/broken.cassette.json" --json
[ "$CODE" = 1 ] || fail "the provider error exited $CODE"
grep -q "failed_resumable" "$WORK/failed.out" ||
  fail "the provider error is not a resumable failure"
no_canary "the output of the failed run" "$WORK"/*.out "$WORK"/*.err
no_canary "the run store" "$WORK/store"
[ ! -f "$WORK/broken.cassette.json" ] ||
  no_canary "the cassette" "$WORK/broken.cassette.json"
check_views broken

# 3. A budget stop after the writer's model call.
start_server "$SRC/tests/secret/echo.replies.json"
run_step budget run --run-id over --workspace "$WORK/ws" --var "token=$CANARY" \
  --max-tokens 10 --record "$WORK/over.cassette.json"
[ "$CODE" = 4 ] || fail "the budget stop exited $CODE"
no_canary "the output of the stopped run" "$WORK"/*.out "$WORK"/*.err
no_canary "the run store" "$WORK/store"
no_canary "the cassette" "$WORK/over.cassette.json"
check_views over

echo "ok: no secret in the output, the store, the cassettes, inspect or report"
