#!/usr/bin/env bash
# The KServe v2 gRPC front end with the real client from PyPI
# (tritonclient[grpc]): starts the daemon with the gRPC front end on its Unix
# socket (the caller's AID from SO_PEERCRED) serving the repository's models,
# then runs grpc_clients_test.py in the venv scripts/test-python-env provides
# (PyPI on first use).
#   grpc_clients_test.sh <model-runtime.vnode> <mrt> <fixture-good.so>
set -euo pipefail
daemon=$1
mrt=$2
fixture=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

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
chmod 711 "$tmp"  # another uid's client (the test runs one as root) reaches the socket
cp -r "$root/models/." "$tmp/models/"
# A tensor model whose inference takes 5 s (polling cancellation): deadlines.
mkdir -p "$tmp/models/slow"
printf 'exec_ms=5000\n' > "$tmp/models/slow/model.fixture"
printf 'format: fixture\nfiles: [model.fixture]\n' > "$tmp/models/slow/model.yml"
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
http: {unix_socket: false}
grpc:
  unix_socket: true
  max_message_bytes: 1MB
  call_timeout_ms: 30000
YML

"$daemon" --manifest "$tmp/vnode.yml" --socket "$tmp/svc.sock" --state-dir "$tmp/state" \
          --system-models "$tmp/models" --plugin-file "$fixture" --log-level debug > "$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
  [ -S "$tmp/svc.grpc.sock" ] && grep -q "ready:" "$tmp/daemon.log" && break
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: the daemon exited:"; cat "$tmp/daemon.log"; exit 1; }
  sleep 0.05
done

rc=0
"$py" "$here/grpc_clients_test.py" --mrt "$mrt" --native-socket "$tmp/svc.sock" --grpc-socket "$tmp/svc.grpc.sock" \
      --daemon-log "$tmp/daemon.log" --daemon-pid "$pid" || rc=$?
if [ "$rc" -ne 0 ]; then echo "--- daemon log"; grep -v "DEBUG registry\|DEBUG router" "$tmp/daemon.log" | tail -60; fi
exit "$rc"
