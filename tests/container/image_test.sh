#!/usr/bin/env bash
# The generated Dockerfile, built and run for real with podman.
#
#   tests/container/image_test.sh ITERC SOURCE_DIR
#
# Builds examples/pr_review.iter with `iterc build --context`, builds the
# image from the generated Dockerfile with podman, checks the image (FROM
# scratch, non-root user, OCI labels, run-store volume), and runs the
# workflow in the container against the fake LLM server on loopback: the
# run must finish, and its run store must land in the volume.
#
# Exit 77 (reported by CTest as skipped) when podman is not installed.
set -euo pipefail

ITERC=${1:?usage: image_test.sh ITERC SOURCE_DIR}
SRC=${2:?usage: image_test.sh ITERC SOURCE_DIR}

if ! command -v podman >/dev/null 2>&1; then
  echo "SKIPPED: podman is not installed (scripts/setup installs it); the"
  echo "generated Dockerfile was not built or run."
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIPPED: python3 is not installed (needed for the fake LLM server)"
  exit 77
fi

WORK=$(mktemp -d /tmp/iterc-image-XXXXXX)
TAG="iterc-test/pr_review:$$"
VOLUME="iterc-test-runs-$$"
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  podman_ rmi -f "$TAG" >/dev/null 2>&1 || true
  podman_ volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# This machine's podman settings: no ulimits in containers.conf, runc, vfs.
printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
podman_() { podman --runtime runc --storage-driver vfs "$@"; }

cd "$SRC"
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build examples/pr_review.iter \
  -o "$WORK/pr_review" --context "$WORK/context"
for f in Dockerfile compose.yaml pr_review ca-certificates.crt; do
  [ -f "$WORK/context/$f" ] || { echo "FAIL: context lacks $f"; exit 1; }
done

podman_ build -q -t "$TAG" "$WORK/context" >/dev/null

inspect() { podman_ image inspect "$TAG" --format "$1"; }
user=$(inspect '{{.Config.User}}')
[ "$user" = "65532:65532" ] || { echo "FAIL: image user is '$user'"; exit 1; }
title=$(inspect '{{index .Config.Labels "org.opencontainers.image.title"}}')
[ "$title" = "pr_review" ] || { echo "FAIL: title label '$title'"; exit 1; }
revision=$(inspect '{{index .Config.Labels "org.opencontainers.image.revision"}}')
want="sha256:$(sha256sum examples/pr_review.iter | cut -d' ' -f1)"
[ "$revision" = "$want" ] || { echo "FAIL: revision '$revision' != $want"; exit 1; }
layers=$(inspect '{{len .RootFS.Layers}}')
echo "image: user $user, revision $revision, $layers layers"

# The fake provider on loopback.
python3 tests/e2e/fake_llm_server.py --replies examples/replies/pr_review.json \
  --port 0 > "$WORK/port" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [ -s "$WORK/port" ] && break
  sleep 0.05
done
PORT=$(head -1 "$WORK/port")
[ -n "$PORT" ] || { echo "FAIL: the fake server did not start"; cat "$WORK/server.log"; exit 1; }

DIFF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vars"]["diff"])' \
  examples/replies/pr_review.json)
set +e
podman_ run --rm --network host -v "$VOLUME:/data" \
  -e OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" -e OPENAI_API_KEY=test-key \
  -e ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT" -e ANTHROPIC_API_KEY=test-key \
  "$TAG" run --json --run-id in-container --var "diff=$DIFF" > "$WORK/out.jsonl"
rc=$?
set -e
result=$(tail -1 "$WORK/out.jsonl")
echo "container exit $rc; result: ${result:0:200}"
[ "$rc" = 0 ] || { echo "FAIL: the workflow exited $rc in the container"; cat "$WORK/server.log"; exit 1; }
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["type"] == "result", r
assert r["status"] == "finished", r["status"]
assert r["outputs"]["verdict_judge"]["approved"] is True, r["outputs"]
PY

# The run store is in the volume, written by the non-root user.
podman_ run --rm -v "$VOLUME:/data" --entrypoint /usr/local/bin/pr_review \
  "$TAG" inspect --run-id in-container > "$WORK/inspect.txt"
grep -q "finished" "$WORK/inspect.txt" || { echo "FAIL: inspect in a new container:"; cat "$WORK/inspect.txt"; exit 1; }
echo "PASS: image built from the generated Dockerfile ran pr_review to 'finished'"
