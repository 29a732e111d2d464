#!/usr/bin/env bash
# The generated stack files work as generated, checked for real.
#
#   tests/container/services_test.sh ITERC SOURCE_DIR
#
# 1. A workflow with a packaged service (`build` + `program`, FROM scratch,
#    HTTP health check) and a service with its own Dockerfile: the compose
#    file of `iterc emit -o DIR` and of `iterc build --context DIR` passes
#    `docker-compose config -q` where it is written (no placeholder
#    contexts); the context holds the program, the probe and the copied
#    build context (a symbolic link out of it is left out).
# 2. With podman: the packaged service's image, built from the context,
#    passes its compose health check (exec form, taken from compose.yaml,
#    run in the container as the engine runs a CMD test); the image has no
#    shell, so the CMD-SHELL test iterc used to write could not run.
# 3. With podman: a workflow with a tool node and `runner_image:` (a base
#    image with a shell, made here from the host's /bin/dash, offline) runs
#    its tool in the runner image built from the generated Dockerfile.
#
# Exit 77 (reported by CTest as skipped) when a required tool is missing;
# parts 2 and 3 need podman, runc and a C compiler that links statically.
set -euo pipefail

ITERC=${1:?usage: services_test.sh ITERC SOURCE_DIR}
SRC=${2:?usage: services_test.sh ITERC SOURCE_DIR}

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAIL: $*"
  exit 1
}
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
python3 -c 'import yaml, jsonschema' 2>/dev/null ||
  skip "python3-yaml and python3-jsonschema are not installed"
command -v docker-compose >/dev/null 2>&1 ||
  skip "docker-compose is not installed (scripts/setup installs it)"
command -v cc >/dev/null 2>&1 || skip "no C compiler (cc) for the test service"
SCHEMA="$SRC/../shared/data/compose-spec.json"
[ -f "$SCHEMA" ] || skip "compose-spec schema not found at $SCHEMA"

WORK=$(mktemp -d /tmp/iterc-services-XXXXXX)
SUFFIX=$$
API_TAG="localhost/iterc-test-api:$SUFFIX"
BASE_TAG="localhost/iterc-test-shell:$SUFFIX"
RUNNER_TAG="localhost/iterc-test-tools:$SUFFIX"
API_CONTAINER="iterc-test-api-$SUFFIX"
HAVE_PODMAN=
cleanup() {
  if [ -n "$HAVE_PODMAN" ]; then
    podman_ rm -f "$API_CONTAINER" >/dev/null 2>&1 || true
    podman_ rmi -f "$RUNNER_TAG" "$BASE_TAG" "$API_TAG" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- The workflow and its services' sources ---------------------------------
WF="$WORK/wf"
mkdir -p "$WF/api/bin" "$WF/web"
cat > "$WORK/server.c" <<'EOF'
/* A static HTTP server: 200 on GET /healthz, 404 otherwise. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080, one = 1;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16))
    return 1;
  for (;;) {
    int c = accept(s, 0, 0);
    char buf[2048];
    ssize_t n = c < 0 ? -1 : read(c, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      const char *r = strncmp(buf, "GET /healthz ", 13) == 0
          ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
          : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      write(c, r, strlen(r));
    }
    if (c >= 0)
      close(c);
  }
}
EOF
cc -static -O2 -o "$WF/api/bin/server" "$WORK/server.c" 2>"$WORK/cc.log" ||
  skip "cc -static cannot link a static program here: $(head -3 "$WORK/cc.log")"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\n' > "$WF/web/Dockerfile"
echo hello > "$WF/web/hello.txt"
ln -s hello.txt "$WF/web/alias.txt"
ln -s /etc/hostname "$WF/web/leak.txt"
cat > "$WF/services.iter" <<'EOF'
service api:
  build: "./api"
  program: "bin/server"
  command: ["8080"]
  ports: ["8080"]
  health:
    http: "/healthz"
    interval: "1s"
    timeout: "3s"
    retries: 5

service web:
  build: "./web"
  dockerfile: "Dockerfile"

verify smoke:
  http:
    up:
      service: api
      path: "/healthz"
      expect_status: 200

workflow services_demo:
  entry: smoke
  services: [api, web]
  smoke -> done when passed
  smoke -> fail when not passed
EOF

validate() { # DIR: docker-compose config -q where the file is
  python3 "$SRC/tests/scripts/validate_compose.py" --schema "$SCHEMA" \
    --in-place "$1/compose.yaml" > "$WORK/validate.log" 2>&1 || {
    cat "$WORK/validate.log"
    fail "compose.yaml in $1 does not validate as written"
  }
  grep -q "docker-compose config -q: ok" "$WORK/validate.log" ||
    fail "docker-compose config did not run on $1: $(cat "$WORK/validate.log")"
}

# --- 1. emit and --context ----------------------------------------------------
cd "$WF"
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" emit services.iter -o emit 2>"$WORK/emit.log" ||
  fail "iterc emit: $(cat "$WORK/emit.log")"
# The emitted directory: the packaged service builds from services/api/;
# the other service's context is the user's (absent there), so only the
# packaged part is checked in place.
python3 - "$WF/emit/compose.yaml" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
del d["services"]["web"]
for s in d["services"].values():
    s.get("depends_on", {}).pop("web", None)
yaml.safe_dump(d, open(sys.argv[1], "w"))
PY
validate "$WF/emit"
echo "emit: compose.yaml passes docker-compose config in place"

ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build services.iter -o "$WORK/services_demo" \
  --context "$WORK/ctx" 2>"$WORK/build.log" || fail "iterc build --context: $(cat "$WORK/build.log")"
CTX="$WORK/ctx"
for f in Dockerfile compose.yaml services/api/Dockerfile services/api/app/server \
  services/api/iterc-probe web/Dockerfile web/hello.txt web/alias.txt; do
  [ -f "$CTX/$f" ] || fail "the context lacks $f: $(cd "$CTX" && find . | sort)"
done
[ ! -e "$CTX/web/leak.txt" ] || fail "a symbolic link out of the build context was copied"
grep -q "leak.txt' is a symbolic link" "$WORK/build.log" ||
  fail "no warning about the left-out link: $(cat "$WORK/build.log")"
cmp -s "$CTX/services/api/app/server" "$WF/api/bin/server" || fail "the program differs"
validate "$CTX"
test_json=$(python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))["services"]["api"]["healthcheck"]["test"]))' "$CTX/compose.yaml")
echo "context: complete; compose.yaml passes docker-compose config; api health test $test_json"
case "$test_json" in
'["CMD", "/iterc-probe", "__probe", "http://127.0.0.1:8080/healthz", "3000"]') ;;
*) fail "the packaged service's health test is not the probe in exec form: $test_json" ;;
esac

# A context outside the workflow's directory is refused, not copied.
mkdir -p "$WORK/outside"
printf 'FROM scratch\n' > "$WORK/outside/Dockerfile"
sed 's|build: "./web"|build: "../outside"|' "$WF/services.iter" > "$WF/escape.iter"
set +e
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build escape.iter -o "$WORK/escape" \
  --context "$WORK/escape_ctx" 2>"$WORK/escape.log"
rc=$?
set -e
[ "$rc" = 2 ] || fail "a context outside the workflow's directory: exit $rc, not 2"
grep -q "it climbs out with '..'" "$WORK/escape.log" || fail "no reason given: $(cat "$WORK/escape.log")"
[ ! -e "$WORK/escape_ctx/outside" ] ||
  fail "something was copied from outside"
echo "context: a build context outside the workflow's directory is refused (exit 2)"

# --- podman -------------------------------------------------------------------
command -v podman >/dev/null 2>&1 || skip "podman is not installed; the images were not built (part 1 passed)"
command -v runc >/dev/null 2>&1 || skip "runc is not installed (podman runs with --runtime runc); part 1 passed"
printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
podman_() { podman --runtime runc --storage-driver vfs "$@"; }
HAVE_PODMAN=1

# --- 2. the packaged service's health check -------------------------------------
podman_ build -q --layers=false -t "$API_TAG" "$CTX/services/api" >"$WORK/podman.log" 2>&1 ||
  fail "podman build of services/api: $(cat "$WORK/podman.log")"
# The health test exactly as compose.yaml gives it: a CMD test is run by the
# engine as `exec` in the container with the words after "CMD" (podman 4.3's
# --health-cmd cannot take a JSON list with a URL in it, so run it so).
podman_ run -d --name "$API_CONTAINER" --network none "$API_TAG" >"$WORK/podman.log" 2>&1 ||
  fail "podman run of the api image: $(cat "$WORK/podman.log")"
mapfile -t health_words < <(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); assert t[0]=="CMD"; print("\n".join(t[1:]))' "$test_json")
healthy=
for _ in $(seq 1 50); do
  if podman_ exec "$API_CONTAINER" "${health_words[@]}" >"$WORK/health.log" 2>&1; then
    healthy=1
    break
  fi
  sleep 0.2
done
[ -n "$healthy" ] || fail "the api container never became healthy: $(cat "$WORK/health.log"); logs: $(podman_ logs "$API_CONTAINER" 2>&1 | tail -5)"
status=healthy
# The probe fails on a path the server does not serve, and there is no
# shell in the image for a CMD-SHELL test.
if podman_ exec "$API_CONTAINER" /iterc-probe __probe http://127.0.0.1:8080/nope >/dev/null 2>&1; then
  fail "the probe passed on a 404"
fi
if podman_ exec "$API_CONTAINER" /bin/sh -c true >/dev/null 2>&1; then
  fail "the packaged image has a shell; the test proves nothing"
fi
echo "service: the packaged image is healthy by its compose health check ($status)"

# --- 3. a tool node in the runner image on a base with a shell -------------------
BASE="$WORK/base"
mkdir -p "$BASE/bin"
cp /bin/dash "$BASE/bin/sh"
for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do
  mkdir -p "$BASE$(dirname "$lib")"
  cp -L "$lib" "$BASE$lib"
done
printf 'FROM scratch\nCOPY . /\n' > "$WORK/base.Dockerfile"
podman_ build -q --layers=false -t "$BASE_TAG" -f "$WORK/base.Dockerfile" "$BASE" \
  >"$WORK/podman.log" 2>&1 || fail "podman build of the base image: $(cat "$WORK/podman.log")"

cat > "$WF/tools.iter" <<EOF
tool hello:
  command: "echo made-by-the-tool > made.txt && read line < made.txt && echo read \$line"
  capture: true

workflow tools_demo:
  runner_image: "$BASE_TAG"
  entry: hello
  hello -> done
EOF
ITERC_CACHE_DIR="$WORK/cache" "$ITERC" build tools.iter -o "$WORK/tools_demo" \
  --context "$WORK/tools" 2>"$WORK/build.log" || fail "iterc build tools.iter: $(cat "$WORK/build.log")"
grep -q "^FROM $BASE_TAG\$" "$WORK/tools/Dockerfile" ||
  fail "the runner Dockerfile is not based on runner_image: $(grep FROM "$WORK/tools/Dockerfile")"
podman_ build -q --layers=false -t "$RUNNER_TAG" "$WORK/tools" >"$WORK/podman.log" 2>&1 ||
  fail "podman build of the runner image: $(cat "$WORK/podman.log")"
set +e
podman_ run --rm --network none "$RUNNER_TAG" run --json > "$WORK/out.jsonl" 2>"$WORK/run.log"
rc=$?
set -e
result=$(tail -1 "$WORK/out.jsonl")
echo "runner: exit $rc; result: ${result:0:300}"
[ "$rc" = 0 ] || fail "the workflow exited $rc in the container: $(cat "$WORK/run.log")"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["type"] == "result" and r["status"] == "finished", r
out = r["outputs"]["hello"]
assert out["exit_code"] == 0, out
assert out["stdout"].strip() == "read made-by-the-tool", out
PY
echo "PASS: compose files validate in place, the packaged service is healthy, the tool ran in the runner image"
