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

. "$here/clients_daemon.sh"
chmod 711 "$tmp"  # another uid's client (the test runs one as root) reaches the socket
# A tensor model whose inference takes 5 s (polling cancellation): deadlines.
mkdir -p "$tmp/models/slow"
printf 'exec_ms=5000\n' > "$tmp/models/slow/model.fixture"
printf 'format: fixture\nfiles: [model.fixture]\n' > "$tmp/models/slow/model.yml"
write_manifest "http: {unix_socket: false}
grpc:
  unix_socket: true
  max_message_bytes: 1MB
  call_timeout_ms: 30000
  max_connections: 8
  connections_per_aid: 6"
start_daemon "$tmp/svc.grpc.sock" "$daemon" --plugin-file "$fixture"

rc=0
"$py" "$here/grpc_clients_test.py" --mrt "$mrt" --native-socket "$tmp/svc.sock" --grpc-socket "$tmp/svc.grpc.sock" \
      --daemon-log "$tmp/daemon.log" --daemon-pid "$pid" || rc=$?
finish "$rc"
