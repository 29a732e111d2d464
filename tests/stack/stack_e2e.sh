#!/usr/bin/env bash
# A compiled workflow brings a stack of two services up, verifies a
# contract against it, repairs it, and brings it down — for real.
#
#   tests/stack/stack_e2e.sh local|container ITERC STACKSVC SOURCE_DIR
#
# tests/stack/two_services.iter: services `store` and `api` (api after
# store, both with HTTP health checks), each runnable as a `program` (the
# static test program STACKSVC) and as a FROM scratch image built from the
# workspace with the Dockerfile iterc generates. The verify node asks the
# api for the item "widget": the first check fails (empty store), the
# scripted repair (a tool node) puts the item into the store, the second
# check passes.
#
# Checks: exit 0 and status finished; the contract failed once, then
# passed; the stack came up in depends_on order and went down before the
# run finished; both services' logs are in the run store; nothing is left
# listening (local) or no container is left (container).
#
# `container` uses podman with this machine's settings (runc, vfs storage,
# no default ulimits, the host's network); exit 77 (CTest: skipped) when
# podman is not installed.
set -euo pipefail

MODE=${1:?usage: stack_e2e.sh local|container ITERC STACKSVC SOURCE_DIR}
ITERC=${2:?missing ITERC}
STACKSVC=${3:?missing STACKSVC}
SRC=${4:?missing SOURCE_DIR}

if [ "$MODE" = container ] && ! command -v podman >/dev/null 2>&1; then
  echo "SKIPPED: podman is not installed (scripts/setup installs it); the"
  echo "container runtime was not exercised."
  exit 77
fi

WORK=$(mktemp -d /tmp/iterc-stack-XXXXXX)
# The container project of the run below (workflow "stacked", run id "e2e").
PROJECT=iterc-stacked-e2e
cleanup() {
  if [ "$MODE" = container ]; then
    # This run's containers only: other tests may have stacks up.
    for c in $(podman_ ps -aq --filter "label=iterc.project=$PROJECT" \
      2>/dev/null); do
      podman_ rm -f "$c" >/dev/null 2>&1 || true
    done
    podman_ images --format '{{.Repository}}' 2>/dev/null |
      grep '^localhost/iterc-stacked' | xargs -r -n1 podman_ rmi -f \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
podman_() { podman --runtime runc --storage-driver vfs "$@"; }
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  for log in "$WORK"/store/runs/*/services/*.log; do
    [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }
  done
  [ -f "$WORK/out.json" ] && { echo "--- output"; tail -40 "$WORK/out.json"; }
  [ -f "$WORK/err.txt" ] && { echo "--- stderr"; tail -40 "$WORK/err.txt"; }
  exit 1
}

listening() { # port -> 0 when something accepts connections on it
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

for port in 28471 28472; do
  if listening $port; then
    echo "SKIPPED: port $port is in use on this machine"
    exit 77
  fi
done

mkdir -p "$WORK/ws"
cp "$STACKSVC" "$WORK/ws/stacksvc"
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build "$SRC/tests/stack/two_services.iter" \
  -o "$WORK/stacked" >/dev/null

env_args=()
if [ "$MODE" = container ]; then
  printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
  env_args=(CONTAINERS_CONF="$WORK/containers.conf"
            ITERC_CONTAINER_ENGINE=podman
            ITERC_CONTAINER_ARGS="--runtime runc --storage-driver vfs"
            ITERC_CONTAINER_NETWORK=host)
fi

set +e
env "${env_args[@]}" "$WORK/stacked" run --stack "$MODE" --workspace "$WORK/ws" \
  --store-dir "$WORK/store" --run-id e2e --json > "$WORK/out.json" 2> "$WORK/err.txt"
code=$?
set -e
[ "$code" = 0 ] || fail "the run exited $code"

python3 - "$WORK/out.json" <<'EOF' || fail "the events are not as expected"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
result = lines[-1]
events = lines[:-1]
assert result["type"] == "result" and result["status"] == "finished", result
types = [e["type"] for e in events]
def first(t):
    return types.index(t)
starting = events[first("stack_starting")]
assert starting["data"]["services"] == ["store", "api"], starting
ready = events[first("stack_ready")]["data"]["services"]
assert ready == {"store": "http://127.0.0.1:28471",
                 "api": "http://127.0.0.1:28472"}, ready
verdicts = [e["data"]["output"]["passed"] for e in events
            if e["type"] == "node_finished" and e["node_id"] == "contract"]
assert verdicts == [False, True], verdicts
seeds = [e for e in events
         if e["type"] == "node_finished" and e["node_id"] == "seed"]
assert len(seeds) == 1, seeds
assert first("stack_ready") < first("node_started")
assert first("stack_stopped") < first("run_finished")
print("ok: contract failed, repaired, passed; stack", starting["data"]["services"])
EOF

for svc in store api; do
  log="$WORK/store/runs/e2e/services/$svc.log"
  [ -s "$log" ] || fail "no log for $svc at $log"
done
grep -q "GET /items" "$WORK/store/runs/e2e/services/api.log" ||
  fail "the api log does not show the contract's requests"

for port in 28471 28472; do
  if listening $port; then
    fail "port $port still answers after the run: the stack was not brought down"
  fi
done
if [ "$MODE" = container ]; then
  left=$(podman_ ps -aq --filter "label=iterc.project=$PROJECT" | wc -l)
  [ "$left" = 0 ] || fail "$left containers are left after the run"
fi
echo "PASS: $MODE stack up, contract repaired, stack down"
