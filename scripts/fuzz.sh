#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes (tests/fuzz):
# builds the libFuzzer targets with clang, ASan and UBSan in their own build
# directory, then runs each for a bounded time, starting from a temporary
# copy of its committed seed corpus (tests/fuzz/corpus/<target>/, which is
# never modified). Fails if any target crashes, leaks, times out on an input
# or runs out of memory; the input that did it is kept in
# <build dir>/fuzz-artifacts/<target>/.
#
#   scripts/fuzz.sh                          # every target, 20 s each
#   scripts/fuzz.sh safetensors ipc_frame    # only these
#   MRT_FUZZ_SECONDS=300 scripts/fuzz.sh     # longer
#
# Environment: MRT_FUZZ_SECONDS (seconds per target, 20), MRT_FUZZ_BUILD_DIR
# (build-fuzz), MRT_FUZZ_RSS_MB (libFuzzer's -rss_limit_mb and so its
# malloc limit, 2048), MRT_FUZZ_TIMEOUT (seconds one input may take, 10),
# MRT_FUZZ_KEEP_CORPUS (a directory: keep the grown corpora there),
# MRT_JOBS (build jobs, 2), CC/CXX (clang, clang++).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${MRT_FUZZ_SECONDS:-20}
dir=${MRT_FUZZ_BUILD_DIR:-build-fuzz}
rss_mb=${MRT_FUZZ_RSS_MB:-2048}
input_timeout=${MRT_FUZZ_TIMEOUT:-10}
jobs=${MRT_JOBS:-2}

pick() { for c in "$@"; do command -v "$c" >/dev/null && { echo "$c"; return; }; done; }
cc=${CC:-$(pick clang clang-14)}
cxx=${CXX:-$(pick clang++ clang++-14)}
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "fuzz: clang not found (scripts/setup-debian.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi

options=(-Dfuzzing=true -Donednn=disabled -Dcuda=disabled -Dtests=disabled
         -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized)
started=$(date +%s)
echo "== fuzz: build ($dir, $cxx, ASan + UBSan + libFuzzer) =="
if [ -f "$dir/build.ninja" ]; then
  meson configure "$dir" "${options[@]}" >/dev/null
else
  CC=$cc CXX=$cxx meson setup "$dir" "${options[@]}" >/dev/null
fi
ninja -C "$dir" -j "$jobs" fuzz-targets
built=$(date +%s)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in tests/fuzz/fuzz_*.cpp; do
    t=$(basename "$src" .cpp)
    targets+=("${t#fuzz_}")
  done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mrt-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts="$(cd "$dir" && pwd)/fuzz-artifacts"
# UBSan stops at the first report, so that libFuzzer records the input.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
failed=()
for t in "${targets[@]}"; do
  exe="$dir/tests/fuzz/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz: no target $t ($exe)" >&2
    failed+=("$t")
    continue
  fi
  mkdir -p "$work/$t" "$artifacts/$t"
  cp -r "tests/fuzz/corpus/$t/." "$work/$t/"
  log="$work/$t.log"
  echo "== fuzz: $t, ${seconds} s =="
  rc=0
  # libFuzzer stops itself after -max_total_time; the outer timeout only
  # guards against a hang that its own -timeout cannot interrupt.
  timeout --kill-after=30 $((seconds + 5 * input_timeout + 120)) \
    "$exe" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$input_timeout" \
      -artifact_prefix="$artifacts/$t/" -print_final_stats=1 "$work/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  echo "   ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "$work/$t" | wc -l) inputs, exit $rc"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "---- $t failed; the end of its log:" >&2
    tail -n 60 "$log" >&2
    echo "---- inputs kept in $artifacts/$t/ (reproduce: $exe <input>)" >&2
  fi
  if [ -n "${MRT_FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$MRT_FUZZ_KEEP_CORPUS/$t"
    cp -r "$work/$t/." "$MRT_FUZZ_KEEP_CORPUS/$t/"
  fi
done
finished=$(date +%s)
echo "fuzz: build $((built - started)) s, fuzzing $((finished - built)) s (${#targets[@]} targets)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crashes"
