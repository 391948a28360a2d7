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
#     defaults are the installed plugin and model directories.
#   install_test.sh <build dir> <prefix> <bindir> <datadir> <meson command...>
set -eu
build=$(cd "$1" && pwd)
prefix=$2
bindir=$3
datadir=$4
shift 4
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
[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
