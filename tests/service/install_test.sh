#!/bin/sh
# An installed copy stands on its own: `meson install --destdir` into a
# temporary folder, then
#   - no installed file names the build tree (ELF files are read without
#     their DWARF debug sections: DW_AT_comp_dir records where the compiler
#     ran, for debuggers, and a packager's -ffile-prefix-map or strip drops it;
#     nor the CUDA fatbinary, .nv_fatbin, where nvcc records the device
#     code's source and include paths for cuda-gdb: nothing reads them at run
#     time);
#   - everything installed is readable by others (the unit's dynamic user);
#   - the installed commands answer --help and --version, and the daemon's
#     defaults are the installed plugin and model directories;
#   - the client library serves other programs: a tiny C++ program built
#     with nothing but `pkg-config mrt-client` against the installed tree,
#     and the installed Python client with the installed .proto, both talk
#     to the installed daemon; libmrt-client exports no internals.
#   install_test.sh <build dir> <prefix> <bindir> <datadir> <libdir> <includedir> <b_sanitize> <meson command...>
set -eu
build=$(cd "$1" && pwd)
prefix=$2
bindir=$3
datadir=$4
libdir=$5
includedir=$6
sanitize=$7
shift 7
command -v objcopy >/dev/null 2>&1 || { echo "objcopy not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
"$@" install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }

status=0
count=0
find "$dest" -type f >"$tmp/files"
while IFS= read -r f; do
  count=$((count + 1))
  target=$f
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    objcopy --strip-debug --remove-section .nv_fatbin "$f" "$tmp/nodebug" 2>/dev/null && target=$tmp/nodebug
  fi
  if grep -q -a -F "$build" "$target"; then
    echo "FAIL: ${f#"$dest"} names the build tree:"
    grep -a -o -F "$build[^[:space:][:cntrl:]]*" "$target" | sort -u | head -5 | sed 's/^/    /'
    status=1
  fi
done <"$tmp/files"
echo "checked $count installed files for '$build'"

# The unit runs the service as a transient user (DynamicUser=yes): whatever
# it reads from the installation must be readable by anyone.
unreadable=$(find "$dest$prefix" \( -type f ! -perm -o=r \) -o \( -type d ! -perm -o=rx \))
if [ -n "$unreadable" ]; then
  echo "FAIL: installed but not readable by others (the service's dynamic user):"
  printf '%s\n' "$unreadable" | sed "s|^$dest|    |" | head -10
  status=1
fi

bin=$dest$prefix/$bindir
for exe in model-runtime.vnode mrt mrt-conformance; do
  env -u LD_LIBRARY_PATH "$bin/$exe" --version || { echo "FAIL: installed $exe --version"; status=1; }
  env -u LD_LIBRARY_PATH "$bin/$exe" --help >"$tmp/help" 2>&1 || { echo "FAIL: installed $exe --help"; cat "$tmp/help"; status=1; }
done
env -u LD_LIBRARY_PATH "$bin/model-runtime.vnode" --help >"$tmp/help" 2>&1
if ! grep -q -F -- "--system-models TEXT=$prefix/$datadir/mrt/models" "$tmp/help"; then
  echo "FAIL: the installed daemon's --system-models default is not $prefix/$datadir/mrt/models:"
  grep -F -- "--system-models" "$tmp/help"
  status=1
fi

# --- the client library, as another program uses it --------------------------------
lib=$dest$prefix/$libdir
for f in "$dest$prefix/$includedir/mrt/client/client.h" "$dest$prefix/$includedir/mrt/client/model_runtime.pb.h" \
         "$dest$prefix/$includedir/mrt/core/status.h" "$dest$prefix/$includedir/mrt/plugin.h" \
         "$dest$prefix/$datadir/mrt/proto/model_runtime.proto" "$dest$prefix/$datadir/mrt/python/mrt_client.py" \
         "$lib/pkgconfig/mrt-client.pc"; do
  [ -f "$f" ] || { echo "FAIL: not installed: ${f#"$dest"}"; status=1; }
done
leaked=$(nm -D --defined-only -C "$lib/libmrt-client.so" | grep -E 'mrt::(vnode|Runtime|Scheduler|ModelCache)' | head -5 || true)
if [ -n "$leaked" ]; then
  echo "FAIL: libmrt-client.so exports internals:"
  printf '%s\n' "$leaked" | sed 's/^/    /'
  status=1
fi
# The .pc names ${prefix}: point it at the destdir, as a packager's sysroot would.
pkgconf() { PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --define-variable=prefix="$dest$prefix" "$@" mrt-client; }
cat >"$tmp/client.cpp" <<'EOF'
// Health, the model list and a refused load, through the installed library.
#include <mrt/client/client.h>

#include <chrono>
#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto c = mrt::client::Client::connect(argv[1]);
  for (int i = 0; i < 200 && !c; ++i) {  // the daemon is starting
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c = mrt::client::Client::connect(argv[1]);
  }
  if (!c) return std::fprintf(stderr, "%s\n", c.status().to_string().c_str()), 1;
  auto health = (*c)->health();
  auto models = (*c)->list_models();
  if (!health || !models) return std::fprintf(stderr, "health or list_models failed\n"), 1;
  std::printf("serving=%s models=%d\n", health->serving() ? "yes" : "no", models->models_size());
  for (const auto& m : models->models()) std::printf("model %s\n", m.model_id().c_str());
  mrt::Status missing = (*c)->load("no-such-model").status();
  std::printf("missing: %s\n", missing.to_string().c_str());
  return 0;
}
EOF
# A sanitizer build's library needs its runtime loaded first: build the
# program with the same sanitizers.
san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
if ! command -v pkg-config >/dev/null 2>&1; then
  echo "FAIL: pkg-config not found"; status=1
elif ! c++ -std=c++20 $san "$tmp/client.cpp" -o "$tmp/client" $(pkgconf --cflags) $(pkgconf --libs) >"$tmp/cc.log" 2>&1; then
  echo "FAIL: a program built with 'pkg-config mrt-client' against the installed tree:"; cat "$tmp/cc.log"; status=1
else
  worker=$(find "$dest$prefix" -name mrt-plugin-worker -type f | head -1)
  env -u LD_LIBRARY_PATH "$bin/model-runtime.vnode" --socket "$tmp/svc.sock" --state-dir "$tmp/state" \
    --system-models "$dest$prefix/$datadir/mrt/models" --plugin-dir "$lib/mrt/plugins" --plugin-worker "$worker" \
    >"$tmp/daemon.log" 2>&1 &
  daemon=$!
  if LD_LIBRARY_PATH=$lib "$tmp/client" "$tmp/svc.sock" >"$tmp/client.out" 2>&1 &&
     grep -q '^serving=yes' "$tmp/client.out" && grep -q '^model iris-dense$' "$tmp/client.out" &&
     grep -q '^missing: NOT_FOUND' "$tmp/client.out"; then
    echo "client program (pkg-config mrt-client): $(head -1 "$tmp/client.out")"
  else
    echo "FAIL: the client program against the installed daemon:"; cat "$tmp/client.out"; tail -5 "$tmp/daemon.log"
    status=1
  fi
  # The Python client as installed, its message classes compiled from the
  # installed .proto (pkg-config's protodir); skipped without protobuf.
  py=""
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import google.protobuf' 2>/dev/null; then py=$p; break; fi
  done
  if [ -z "$py" ]; then
    echo "python client: skipped (no protobuf package for Python)"
  elif PYTHONPATH="$dest$prefix/$datadir/mrt/python" MRT_PROTO_DIR=$(pkgconf --variable=protodir) "$py" -c '
import sys, mrt_client
with mrt_client.Client(sys.argv[1]) as c:
    assert c.health().serving
    ids = [m.model_id for m in c.list_models()]
    assert "iris-dense" in ids, ids
    print("python client (installed):", len(ids), "models")
' "$tmp/svc.sock" >"$tmp/py.out" 2>&1; then
    cat "$tmp/py.out"
  else
    echo "FAIL: the installed Python client:"; cat "$tmp/py.out"; status=1
  fi
  kill -TERM "$daemon"
  wait "$daemon" || { echo "FAIL: the installed daemon did not exit 0 on SIGTERM"; tail -5 "$tmp/daemon.log"; status=1; }
fi
[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
