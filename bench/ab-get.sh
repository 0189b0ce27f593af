#!/usr/bin/env bash
# A/B of the 1 GiB get between two wsresume binaries, alternated round by
# round, each round also timing `openssl dgst -sha256` of the same file, so
# every result is also a ratio against openssl in the same run. A fresh
# server per binary per round: its first get is cold (the server hashes),
# the second warm (hashes cached).
#   bench/ab-get.sh OLD_BINARY NEW_BINARY      (RUNS=9 by default)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
BINS=("$1" "$2"); RUNS=${RUNS:-9}
W=$(mktemp -d); trap 'kill $SP 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/src" "$W/out"; SP=0
head -c $((1 << 30)) /dev/urandom > "$W/src/big.bin"
SHA=$(openssl dgst -sha256 -r "$W/src/big.bin" | cut -d' ' -f1)
t() { local name=$1; shift; /usr/bin/time -f '%e' -o "$W/t" "$@" >/dev/null; echo "$name $(cat "$W/t")" >> "$W/times"; }
one() { local tag=$1 bin=$2
  "$bin" serve "$W/src" --listen 127.0.0.1:0 -q > "$W/serve.out" & SP=$!
  for _ in $(seq 100); do grep -q listening "$W/serve.out" 2>/dev/null && break; sleep 0.05; done
  local url; url=$(sed 's/listening on //' "$W/serve.out")
  rm -f "$W/out/g.bin"; t "${tag}_get_cold" "$bin" get "$url/big.bin" "$W/out/g.bin" -q
  [ "$(openssl dgst -sha256 -r "$W/out/g.bin" | cut -d' ' -f1)" = "$SHA" ] || { echo "$tag: wrong SHA-256" >&2; exit 1; }
  rm -f "$W/out/g.bin"; t "${tag}_get_warm" "$bin" get "$url/big.bin" "$W/out/g.bin" -q
  kill -INT $SP; wait $SP || true; }
for r in $(seq "$RUNS"); do
  t openssl openssl dgst -sha256 "$W/src/big.bin"
  if [ $((r % 2)) = 0 ]; then one old "${BINS[0]}"; one new "${BINS[1]}"
  else one new "${BINS[1]}"; one old "${BINS[0]}"; fi
done
python3 - "$W/times" <<'PY'
import collections, statistics as st, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, value = line.split(); d[name].append(float(value))
o = st.median(d["openssl"])
for name in sorted(d):
    m = st.median(d[name])
    print(f"{name:14s} median {m:5.2f} s  x{m / o:4.2f} openssl  ({len(d[name])} runs)")
PY
