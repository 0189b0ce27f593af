#!/usr/bin/env bash
# Cold vs warm `get` of one file: the first get after a server restart (its
# hashes come from the persisted hash cache, --cache-dir) against a second
# get from the same running server (hashes in memory). Alternated, RUNS rounds.
#
#   bench/cold-warm.sh [SIZE_MIB] [RUNS]      # default 512 MiB, 5 rounds
#
# Uses target/release/wsresume (build it first) and a scratch directory
# under ${BENCH_DIR:-/tmp/wsresume-bench}/cold-warm.
set -euo pipefail
SIZE_MIB=${1:-512}
RUNS=${2:-5}
W=$(cd "$(dirname "$0")/.." && pwd)/target/release/wsresume
DIR=${BENCH_DIR:-/tmp/wsresume-bench}/cold-warm
rm -rf "$DIR" && mkdir -p "$DIR/root" "$DIR/out" "$DIR/cache"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$DIR/root/big.bin"
start() {
  "$W" serve "$DIR/root" --listen 127.0.0.1:0 --cache-dir "$DIR/cache" > "$DIR/serve.log" 2>&1 &
  SPID=$!
  PORT=
  for _ in $(seq 100); do
    PORT=$(grep -o '127.0.0.1:[0-9]*' "$DIR/serve.log" | head -n1 | cut -d: -f2 || true)
    [ -n "$PORT" ] && return
    sleep 0.1
  done
  echo "the server did not start" >&2; exit 1
}
stop() { kill -INT "$SPID"; wait "$SPID" 2>/dev/null || true; }
timed() {
  rm -f "$DIR/out/big.bin"
  local t0=$EPOCHREALTIME
  "$W" get "ws://127.0.0.1:$PORT/big.bin" "$DIR/out/big.bin" -q
  local t1=$EPOCHREALTIME
  python3 -c "print(round($t1 - $t0, 3))"
}
start; timed > /dev/null; stop   # the server hashes the file once
cold=() warm=()
for _ in $(seq "$RUNS"); do
  start; cold+=("$(timed)"); warm+=("$(timed)"); stop
done
python3 - "${cold[*]}" "${warm[*]}" <<'PY'
import statistics, sys
cold = [float(x) for x in sys.argv[1].split()]
warm = [float(x) for x in sys.argv[2].split()]
c, w = statistics.median(cold), statistics.median(warm)
print(f"cold {cold}\nwarm {warm}\nmedians: cold {c:.3f} s, warm {w:.3f} s, cold/warm {c / w:.3f}")
PY
