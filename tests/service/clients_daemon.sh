# Sourced by the tests that run real PyPI clients against a daemon
# (http_clients_test.sh, grpc_clients_test.sh): the venv, a scratch
# directory with a copy of the repository's models, the test manifest with
# the caller's front-end section, starting the daemon and waiting for its
# socket, and the daemon's log when the clients fail. Expects `here` and
# `root` set, and `set -euo pipefail`.

venv=$("$root/scripts/test-python-env") || { echo "FAIL: could not install scripts/requirements-http-clients.txt from PyPI"; exit 1; }
py=$venv/bin/python

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/models" "$tmp/state"
cp -r "$root/models/." "$tmp/models/"

# write_manifest FRONT_END_YAML: the test vnode.yml with the front ends' sections.
write_manifest() {
  cat > "$tmp/vnode.yml" <<YML
name: model-runtime
version: 0.1.0-test
mode: strict
runtime: {entrypoint: model-runtime.vnode, required_mem_mb: 256, max_cpu_share: 1.0}
capabilities:
  - CAP_IPC_ACCEPT
  - CAP_IPC_CONNECT: "svc://vfs"
  - CAP_LOG_WRITE
  - CAP_TIME_READ
ipc: {address: "svc://model-runtime"}
storage:
  mounts:
    - {path: /models, source: "aetherfs://system-models", mode: ro}
    - {path: "/home/<AID>/models", source: "aetherfs://user/<AID>/models", mode: rw}
observability: {metrics: [inference_requests_total]}
$1
YML
}

# start_daemon SOCKET DAEMON [ARGS...]: starts it on $tmp/svc.sock and waits
# until SOCKET exists and the daemon says it is ready.
start_daemon() {
  local socket=$1 daemon=$2
  shift 2
  "$daemon" --manifest "$tmp/vnode.yml" --socket "$tmp/svc.sock" --state-dir "$tmp/state" \
            --system-models "$tmp/models" --log-level debug "$@" > "$tmp/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    [ -S "$socket" ] && grep -q "ready:" "$tmp/daemon.log" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: the daemon exited:"; cat "$tmp/daemon.log"; exit 1; }
    sleep 0.05
  done
}

# finish RC: the daemon's log when the clients failed, then exit RC.
finish() {
  if [ "$1" -ne 0 ]; then echo "--- daemon log"; grep -v "DEBUG registry\|DEBUG router" "$tmp/daemon.log" | tail -60; fi
  exit "$1"
}
