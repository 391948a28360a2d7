#!/usr/bin/env bash
# The HTTP front ends with the real clients from PyPI (openai, tritonclient):
# starts the daemon with the OpenAI/KServe front ends on their Unix socket
# and on a loopback TCP port with a bearer token, serving the repository's
# models plus a tiny ONNX encoder, then runs http_clients_test.py in the
# venv scripts/test-python-env provides (PyPI on first use).
#   http_clients_test.sh <model-runtime.vnode> <mrt>
set -euo pipefail
daemon=$1
mrt=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

. "$here/clients_daemon.sh"
"$py" "$root/scripts/make-encoder-fixture.py" "$tmp/models/tiny-encoder"

token=$("$py" -c 'import secrets; print(secrets.token_hex(24))')
(umask 077; printf '# test tokens\n%s %s\n' "$(id -u)" "$token" > "$tmp/tokens")
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_manifest "http:
  unix_socket: true
  tcp_port: $port
  tokens_file: $tmp/tokens"
start_daemon "$tmp/svc.http.sock" "$daemon"

rc=0
"$py" "$here/http_clients_test.py" --mrt "$mrt" --native-socket "$tmp/svc.sock" --http-socket "$tmp/svc.http.sock" \
      --tcp "127.0.0.1:$port" --token "$token" --models "$tmp/models" || rc=$?
finish "$rc"
