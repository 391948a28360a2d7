#!/bin/sh
# Builds the example plugin from subprojects/ as a standalone Meson project
# that sees only the ABI (mrt-abi.pc from the build tree's uninstalled
# pkg-config files), then runs the conformance harness on the result.
#   standalone_plugin_build.sh <source-root> <build-root> <mrt-conformance>
set -eu
src=$1 build=$2 conformance=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The plugin's tree is copied alone: nothing of core/ is reachable from it.
cp -r "$src/subprojects/dense-plugin" "$work/dense-plugin"
PKG_CONFIG_PATH="$build/abi" meson setup "$work/build" "$work/dense-plugin" >"$work/setup.log" 2>&1 ||
  { cat "$work/setup.log"; exit 1; }
grep -q "mrt-abi found: YES 1.0.0" "$work/setup.log" || { cat "$work/setup.log"; exit 1; }
ninja -C "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# Exactly one exported symbol: the entry point.
exported=$(nm -D --defined-only "$work/build/mrt-plugin-dense.so" | awk '{print $3}')
[ "$exported" = "mrt_plugin_entry" ] || { echo "exports: $exported"; exit 1; }
"$conformance" "$work/build/mrt-plugin-dense.so" --model "$src/subprojects/dense-plugin/models/iris-dense"
