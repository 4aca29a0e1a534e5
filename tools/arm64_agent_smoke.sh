#!/usr/bin/env bash
# The dcnas-deploy agent on the arm64 root of tools/arm64_root.sh, under qemu-user, driven from this host (issue 28):
# `devices`, `benchmark` of an exported .tflite and a small `profile --quick` through it, each timed.
# The timings are of an emulator: they say nothing about ARM hardware (the LUT is marked emulated; search refuses it).
#
#   tools/arm64_agent_smoke.sh [OUT]    # default OUT: runs/arm64-agent (agent.log, times.txt, benchmark.json, the LUT)
# Environment: DCNAS_ARM64_ROOT (the root), HOST_PY (the host's Python with dcnas-deploy; default python3),
# PORT (8799), HR (32x32), SCALE (4), WIDTH (4), CALIBRATE (2).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${DCNAS_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/dcnas-deploy/arm64-root}
WRAPPER="$ROOT/usr/bin/dcnas-python3"
OUT=$(mkdir -p "${1:-$REPO/runs/arm64-agent}" && cd "${1:-$REPO/runs/arm64-agent}" && pwd)
HOST_PY=${HOST_PY:-python3}
PORT=${PORT:-8799}
HR=${HR:-32x32}; SCALE=${SCALE:-4}; WIDTH=${WIDTH:-4}; CALIBRATE=${CALIBRATE:-2}
DEVICE=arm64-qemu

[ -x "$WRAPPER" ] || { echo "no arm64 root at $ROOT: build it with tools/arm64_root.sh" >&2; exit 1; }
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
TIMES="$OUT/times.txt"
: > "$TIMES"

since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

timed() {  # timed LABEL COMMAND...: run, log its wall time
    local label=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    printf '%-10s %7s s  %s\n' "$label" "$(since "$t0" "$t1")" "$*" | tee -a "$TIMES"
}

# the agent, under emulation
printf 'arm64-smoke-token-%s\n' "$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')" > "$OUT/agent.token"
chmod 600 "$OUT/agent.token"
: > "$OUT/agent.log"   # before the agent starts: a previous run's "listening on" must not count
t0=$(date +%s.%N)
"$WRAPPER" -m dcnas_deploy.agent --port "$PORT" --token-file "$OUT/agent.token" --runtime litert --timeout-s 1800 \
    > "$OUT/agent.log" 2>&1 &
AGENT=$!
trap 'kill "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    grep -q "listening on" "$OUT/agent.log" && break
    kill -0 "$AGENT" 2>/dev/null || { cat "$OUT/agent.log" >&2; exit 1; }
    sleep 0.5
done
grep -q "listening on" "$OUT/agent.log" || { echo "the agent did not start in 300 s" >&2; cat "$OUT/agent.log" >&2; exit 1; }
printf '%-10s %7s s  %s\n' "agent up" "$(since "$t0" "$(date +%s.%N)")" "$WRAPPER -m dcnas_deploy.agent ..." \
    | tee -a "$TIMES"
grep "listening on" "$OUT/agent.log"

# a device profile reaching it
mkdir -p "$OUT/devices"
cat > "$OUT/devices/$DEVICE.yaml" <<EOF
name: $DEVICE
description: LiteRT (XNNPACK) on an aarch64 Debian root under qemu-user on this host (tools/arm64_root.sh); timings mean nothing.
runtime: litert
runtime_device: cpu
precision: fp32
threads: 1
options:
  xnnpack: true
connection: {kind: agent, url: 'http://127.0.0.1:$PORT', token_file: '$OUT/agent.token', timeout_s: 1800}
EOF
export DCNAS_DEVICES="$OUT/devices"

timed devices "$HOST_PY" -m dcnas_deploy devices
[ -n "$(ls "$OUT"/export/*.tflite 2>/dev/null)" ] || \
    timed export "$HOST_PY" -m dcnas_deploy export --model depth-x4 --target tflite -o "$OUT/export"
TFLITE=$(ls "$OUT"/export/*.tflite | head -1)
rm -f "$OUT/benchmark.json"
timed benchmark "$HOST_PY" -m dcnas_deploy benchmark "$TFLITE" --device "$DEVICE" --json "$OUT/benchmark.json"
LUT="$OUT/$DEVICE-c$WIDTH-$HR-x$SCALE.yaml"
timed profile "$HOST_PY" -m dcnas_deploy profile --device "$DEVICE" --quick --hr "$HR" --scale "$SCALE" \
    --width "$WIDTH" --calibrate "$CALIBRATE" --force --out "$LUT"
"$HOST_PY" - "$LUT" <<'EOF'
import sys
from dcnas_deploy.lut.table import LUT
lut = LUT.load(sys.argv[1])
fp = lut.provenance["fingerprint"]
print(f"{len(lut.ops)} ops; machine {fp['machine']}; emulated: {lut.emulation}")
EOF
echo "wall times in $TIMES (of an emulator: they mean nothing about ARM hardware)"
