#!/usr/bin/env bash
# Benchmark wsresume against its peers on loopback, side by side in one run:
# curl from nginx (sendfile), websocat (no verification), openssl's SHA-256.
# Installs what it needs, makes the test file, starts every server itself on
# 127.0.0.1, alternates the tools for BENCH_RUNS rounds, checks every output's
# SHA-256 once, and writes a Markdown table of medians to bench/results.md.
#
#   bench/run.sh                 # 1 GiB, 5 rounds
#   BENCH_SIZE=256M BENCH_RUNS=3 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
WORK=${BENCH_DIR:-/tmp/wsresume-bench}
TOOLS=$REPO/bench/.tools
WS=$REPO/target/release/wsresume
PIDS=()

log() { printf 'bench: %s\n' "$*" >&2; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

install_tools() {
  local need=()
  command -v nginx >/dev/null || need+=(nginx)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  [ -x /usr/bin/time ] || need+=(time)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ! -x "$TOOLS/bin/websocat" ]; then
    log "installing websocat 1.x with cargo (a few minutes)"
    cargo install --quiet --locked websocat --version '^1' --root "$TOOLS"
  fi
  cargo build --release --quiet
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

make_file() {
  mkdir -p "$WORK/src" "$WORK/out"
  local bytes; bytes=$(python3 -c "import sys; s='$SIZE'; m={'K':1<<10,'M':1<<20,'G':1<<30}; print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))")
  if [ "$(stat -c %s "$WORK/src/big.bin" 2>/dev/null || echo 0)" != "$bytes" ]; then
    log "making a $SIZE random file"
    head -c "$bytes" /dev/urandom > "$WORK/src/big.bin"
  fi
  SRC_SHA=$(openssl dgst -sha256 -r "$WORK/src/big.bin" | cut -d' ' -f1)
  BYTES=$bytes
}

start_nginx() {
  NGINX_PORT=$(free_port)
  cat > "$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/src; }
}
CONF
  nginx -c "$WORK/nginx.conf" -p "$WORK" & PIDS+=($!)
}

# Start `wsresume serve` under /usr/bin/time; sets WS_URL and WS_SERVE_PID.
start_wsresume() {
  rm -f "$WORK/serve.out"
  /usr/bin/time -f '%M' -o "$WORK/serve.rss" "$WS" serve "$WORK/src" --listen 127.0.0.1:0 -q > "$WORK/serve.out" &
  WS_SERVE_PID=$!; PIDS+=($WS_SERVE_PID)
  for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.05; done
  WS_URL=$(sed 's/listening on //' "$WORK/serve.out")
}

# GNU time ignores SIGINT: signal the server it runs.
stop_wsresume() { pkill -INT -P "$WS_SERVE_PID" 2>/dev/null || true; wait "$WS_SERVE_PID" 2>/dev/null || true; }

start_websocat_server() {
  WSC_PORT=$(free_port)
  "$TOOLS/bin/websocat" -b -U "ws-l:127.0.0.1:$WSC_PORT" "readfile:$WORK/src/big.bin" 2>/dev/null & PIDS+=($!)
}

# time_cmd NAME CMD...: run once, append "NAME seconds maxrss_kb" to $WORK/times.
time_cmd() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/t.txt" "$@" > /dev/null
  echo "$name $(cat "$WORK/t.txt")" >> "$WORK/times"
}

check() { # check NAME FILE: the output is the source, byte for byte
  local got; got=$(openssl dgst -sha256 -r "$2" | cut -d' ' -f1)
  [ "$got" = "$SRC_SHA" ] || { log "$1: SHA-256 mismatch"; exit 1; }
}

# websocat's upload: the file piped into its client, a one-shot server writing
# it; timed from the client's start until the server has written and exited.
websocat_send() {
  local port; port=$(free_port)
  rm -f "$WORK/out/ws-up.bin"
  "$TOOLS/bin/websocat" -b -u --oneshot "ws-l:127.0.0.1:$port" "writefile:$WORK/out/ws-up.bin" 2>/dev/null &
  local server=$!
  sleep 0.5
  local start; start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/t.txt" "$TOOLS/bin/websocat" -b "ws://127.0.0.1:$port/" \
    < "$WORK/src/big.bin" > /dev/null
  wait "$server"
  local secs; secs=$(python3 -c "import time; print(round(time.time() - $start, 3))")
  echo "websocat_send $secs $(cat "$WORK/t.txt")" >> "$WORK/times"
}

one_round() {
  local first=$1
  time_cmd openssl openssl dgst -sha256 "$WORK/src/big.bin"
  rm -f "$WORK/out/curl.bin"
  time_cmd curl curl -s -o "$WORK/out/curl.bin" "http://127.0.0.1:$NGINX_PORT/big.bin"
  rm -f "$WORK/out/websocat.bin"
  time_cmd websocat "$TOOLS/bin/websocat" -b -u -n "ws://127.0.0.1:$WSC_PORT/" "writefile:$WORK/out/websocat.bin"
  # A fresh server each round: the first get hashes, the second hits the cache.
  stop_wsresume; start_wsresume
  rm -f "$WORK/out/ws-get.bin"
  time_cmd wsresume_get_cold "$WS" get "$WS_URL/big.bin" "$WORK/out/ws-get.bin" -q
  [ "$first" = 1 ] && check wsresume_get_cold "$WORK/out/ws-get.bin"
  rm -f "$WORK/out/ws-get.bin"
  time_cmd wsresume_get_warm "$WS" get "$WS_URL/big.bin" "$WORK/out/ws-get.bin" -q
  websocat_send
  rm -f "$WORK/src/up.bin"
  time_cmd wsresume_send "$WS" send "$WORK/src/big.bin" "$WS_URL/up.bin" -q
  if [ "$first" = 1 ]; then
    check curl "$WORK/out/curl.bin"; check websocat "$WORK/out/websocat.bin"
    check wsresume_get_warm "$WORK/out/ws-get.bin"; check websocat_send "$WORK/out/ws-up.bin"
    check wsresume_send "$WORK/src/up.bin"
  fi
  rm -f "$WORK/src/up.bin"
}

main() {
  install_tools
  make_file
  start_nginx
  start_websocat_server
  start_wsresume
  sleep 0.3
  rm -f "$WORK/times"
  for round in $(seq "$RUNS"); do
    log "round $round of $RUNS"
    one_round "$round"
  done
  stop_wsresume
  python3 "$REPO/bench/report.py" "$WORK/times" "$BYTES" "$(cat "$WORK/serve.rss" 2>/dev/null || echo 0)" \
    | tee "$REPO/bench/results.md"
}

main "$@"
