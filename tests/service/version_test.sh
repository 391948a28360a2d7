#!/bin/sh
# `<command> --version` prints exactly the expected line and exits 0.
#   version_test.sh <executable> <expected line>
set -u
exe=$1
expected=$2
out=$("$exe" --version 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "FAIL: $exe --version exited $rc: $out"
  exit 1
fi
if [ "$out" != "$expected" ]; then
  echo "FAIL: $exe --version printed '$out', expected '$expected'"
  exit 1
fi
echo "PASS: $out"
