#!/bin/sh
# The installed systemd unit's sandbox: `systemd-analyze security` must rate
# its exposure 3.0 or lower (docs/service.md, "The systemd unit").
#   unit_security_test.sh <model-runtime.service>
# Exit 77 (skipped) where systemd-analyze is missing.
set -eu
unit=$1
max=3.0
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found: skipped"; exit 77; }
# --threshold is in tenths: systemd-analyze itself fails above 3.0 too.
out=$(systemd-analyze security --offline=yes --threshold=30 --no-pager "$unit" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | grep -v '^✓' || true
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "FAIL: no exposure level in systemd-analyze's output (exit $rc)"
  exit 1
fi
if [ "$rc" -ne 0 ] || awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
  echo "FAIL: exposure $score is above $max"
  exit 1
fi
echo "PASS: exposure $score (at most $max)"
