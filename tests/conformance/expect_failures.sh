#!/bin/sh
# Runs mrt-conformance on a broken plugin and checks that it failed the way
# it should: exit status 1, exactly <count> FAIL lines whose text matches
# <pattern> (grep -E), and the summary line (the run went on to the end).
#   expect_failures.sh <count> <pattern> <mrt-conformance> [args...]
set -u
count=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 1 ] || { echo "expected exit status 1, got $rc"; exit 1; }
n=$(printf '%s\n' "$out" | grep -cE "^FAIL .*$pattern")
[ "$n" = "$count" ] || { echo "expected $count FAIL line(s) matching '$pattern', got $n"; exit 1; }
printf '%s\n' "$out" | grep -qE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' || { echo "no summary line"; exit 1; }
