#!/usr/bin/env bash
# `cmake --install` gives a working iterc: the installed compiler finds the
# runtime and the templates relative to itself, builds an example into a
# static executable, and the CMakeLists.txt it emits builds the same
# workflow with find_package(iterc_rt) against the installed runtime.
#
#   tests/install/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}

WORK=$(mktemp -d /tmp/iterc-install-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
for f in bin/iterc include/iterc/rt/Program.h lib/libiterc_rt.a lib/iterc_rt.ld \
         lib/cmake/iterc_rt/iterc_rtConfig.cmake \
         share/iterc/templates/workflow.cpp.mustache; do
  [ -e "$WORK/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done

cd "$SRC"
# The installed iterc, away from the build tree (no iterc-layout.txt).
ITERC_CACHE_DIR="$WORK/cache" "$WORK/prefix/bin/iterc" build \
  examples/llm_router.iter -o "$WORK/triage"
"$WORK/triage" --version | grep -q "built by iterc" \
  || { echo "FAIL: the installed iterc's executable does not run"; exit 1; }

"$WORK/prefix/bin/iterc" emit examples/llm_router.iter -o "$WORK/emitted"
cmake -S "$WORK/emitted" -B "$WORK/emitted/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" \
  || { cat "$WORK/configure.log"; echo "FAIL: the emitted CMakeLists.txt does not configure"; exit 1; }
cmake --build "$WORK/emitted/build" > "$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; echo "FAIL: the emitted CMakeLists.txt does not build"; exit 1; }
"$WORK/emitted/build/triage" --version | grep -q "llm_router.iter" \
  || { echo "FAIL: the CMake-built executable does not run"; exit 1; }
# The runtime's link script comes with the package (iterc build passes it
# too): the same link as `iterc build`.
grep -q -- "-T,$WORK/prefix/lib/iterc_rt.ld" "$WORK/emitted/build/build.ninja" \
  || { echo "FAIL: the CMake link does not use the installed iterc_rt.ld"; exit 1; }
if "$WORK/emitted/build/triage" --version >/dev/null && \
   readelf -l "$WORK/emitted/build/triage" | grep -q INTERP; then
  echo "FAIL: the CMake-built executable is not static"; exit 1
fi
echo "PASS: installed iterc builds; the emitted CMakeLists.txt builds a static executable"
