#!/usr/bin/env bash
# Benchmark wsresume against its peers on loopback, side by side in one run:
# curl from nginx (sendfile), websocat (no verification), openssl's SHA-256.
# Installs what it needs, makes the test files, starts every server itself on
# 127.0.0.1, and writes Markdown tables to bench/results.md.
#
# Parts (BENCH_ONLY, comma-separated; default: all but s3, in this order):
#   compare      1 GiB get/send vs curl, websocat, openssl: medians of
#                BENCH_RUNS rounds, tools alternated, every output checked
#   resume       resume a 50 % partial of a BENCH_RESUME_SIZE file (4G) vs a
#                fresh get; prefix bytes the client re-reads (strace)
#   memory       peak RSS of client and server, get (and send) of each size
#                in BENCH_MEM_SIZES ("1G 4G")
#   concurrency  BENCH_CONNS (1000) concurrent gets of a 1 MiB file from one
#                server (examples/loadgen.rs): time to first byte, server RSS
#   small        BENCH_SMALL_COUNT (1000) sequential gets of a 4 KiB file vs
#                as many curl requests to nginx
#   tree         trees (300 x 16 KiB, 10,000 x 4 KiB, a mixed tree) by
#                `get -r`/`send -r` vs rsync (daemon) and curl (one keep-alive
#                connection), on loopback and through a 50 ms round-trip
#                delay proxy; no-op re-runs; bench/tree.sh says more
#                (BENCH_TREE_*, BENCH_PARALLEL)
#   s3           a BENCH_S3_SIZE (256M) file into and out of a bucket by
#                `wsresume send`/`get` through `serve --store s3://` vs the
#                AWS CLI, both against moto on 127.0.0.1 (medians of
#                BENCH_RUNS rounds, 3 unless set; alternated; every output
#                checked); the server's peak RSS per upload of each of
#                BENCH_S3_MEM_SIZES ("64M 256M"); bench/s3.sh says more.
#                Not in the default set (it installs moto and the AWS CLI
#                from PyPI into virtual environments)
#   compress     --compress auto vs off: 1 GiB random on loopback, a 256 MiB
#                text log through a 10 MB/s link (bench/rate_proxy.py), bytes
#                on the wire; bench/compress.sh says more (BENCH_COMPRESS_*)
#
# BENCH_NO_BUILD=1 uses target/release/wsresume as it is (no cargo build).
#
#   bench/run.sh                 # everything; compare at 1 GiB, 5 rounds
#   BENCH_SIZE=256M BENCH_RUNS=3 bench/run.sh
#   BENCH_ONLY=resume,small bench/run.sh
#   BENCH_ONLY=resume BENCH_RESUME_SIZE=256M bench/run.sh
#   BENCH_ONLY=tree bench/run.sh
#   BENCH_ONLY=s3 bench/run.sh    # 256 MiB, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PATH=$PATH:/usr/sbin:/sbin # nginx
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
WORK=${BENCH_DIR:-/tmp/wsresume-bench}
ONLY=${BENCH_ONLY:-compare,resume,memory,concurrency,small,tree,compress}
RESUME_SIZE=${BENCH_RESUME_SIZE:-4G}
MEM_SIZES=${BENCH_MEM_SIZES:-1G 4G}
MEM_SEND=${BENCH_MEM_SEND:-1}
CONNS=${BENCH_CONNS:-1000}
CONN_SIZE=${BENCH_CONN_SIZE:-1M}
SMALL_COUNT=${BENCH_SMALL_COUNT:-1000}
SMALL_SIZE=${BENCH_SMALL_SIZE:-4K}
CHUNK=1048576 # the chunk size the new parts ask for (--chunk-size; the default)
TOOLS=$REPO/bench/.tools
WS=$REPO/target/release/wsresume
LOADGEN=$REPO/target/release/examples/loadgen
PIDS=()
FAILED=0

log() { printf 'bench: %s\n' "$*" >&2; }
# Stop what this script started, by PID; the children too (GNU time's
# wsresume serve would outlive a killed time).
cleanup() {
  for p in "${PIDS[@]}"; do
    pkill -TERM -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

want() { [[ ",$ONLY," == *",$1,"* ]]; }

install_tools() {
  local need=() sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v curl >/dev/null || need+=(curl)
  command -v openssl >/dev/null || need+=(openssl)
  [ -x /usr/bin/time ] || need+=(time)
  if want resume; then command -v strace >/dev/null || need+=(strace); fi
  if want concurrency; then command -v ss >/dev/null || need+=(iproute2); fi
  if want tree; then command -v rsync >/dev/null || need+=(rsync); fi
  if want s3; then python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv); fi
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if want compare && [ ! -x "$TOOLS/bin/websocat" ]; then
    log "installing websocat 1.x with cargo (a few minutes)"
    cargo install --quiet --locked websocat --version '^1' --root "$TOOLS"
  fi
  if want s3; then s3_install; fi
  if [ "${BENCH_NO_BUILD:-0}" = 1 ] && [ -x "$WS" ]; then
    log "BENCH_NO_BUILD=1: using $WS as it is ($("$WS" --version))"
  else
    cargo build --release --quiet
  fi
  if want concurrency; then cargo build --release --quiet --example loadgen; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bytes_of SIZE: 64M -> 67108864 (K, M, G binary, like the CLI)
bytes_of() { python3 -c "import sys; s='$1'; m={'K':1<<10,'M':1<<20,'G':1<<30}; print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))"; }

make_file() {
  mkdir -p "$WORK/src" "$WORK/out"
  local bytes; bytes=$(bytes_of "$SIZE")
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
  keepalive_requests 1000000;
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

# The 1 GiB comparison: curl, websocat, wsresume get cold/warm, send, openssl.
part_compare() {
  make_file
  start_nginx
  start_websocat_server
  start_wsresume
  sleep 0.3
  rm -f "$WORK/times"
  for round in $(seq "$RUNS"); do
    log "compare: round $round of $RUNS"
    one_round "$round"
  done
  stop_wsresume
  COMPARE_RSS=$(cat "$WORK/serve.rss" 2>/dev/null || echo 0)
}

# --- Helpers of the resume, memory, concurrency and small parts -------------

# make_sized SIZE: print the path of $WORK/src/sized-SIZE.bin, random data,
# made once and kept while its size and mtime match $WORK/sums/sized-SIZE,
# which also holds its SHA-256 (sha_of_sized SIZE).
make_sized() {
  local size=$1 bytes file sum
  bytes=$(bytes_of "$size")
  file=$WORK/src/sized-$size.bin
  sum=$WORK/sums/sized-$size
  mkdir -p "$WORK/src" "$WORK/out" "$WORK/sums"
  if [ "$(stat -c %s "$file" 2>/dev/null)" != "$bytes" ] \
    || [ "$(cut -d' ' -f1,2 "$sum" 2>/dev/null)" != "$(stat -c '%s %.9Y' "$file")" ]; then
    log "making a $size random file"
    head -c "$bytes" /dev/urandom > "$file"
    echo "$(stat -c '%s %.9Y' "$file") $(openssl dgst -sha256 -r "$file" | cut -d' ' -f1)" > "$sum"
  fi
  echo "$file"
}
sha_of_sized() { cut -d' ' -f3 "$WORK/sums/sized-$1"; }

# record KEY=VALUE...: one JSON object per line into $WORK/parts.jsonl for
# report.py; a VALUE that parses as JSON (numbers, objects) is kept as such.
record() {
  python3 - "$@" >> "$WORK/parts.jsonl" <<'PY'
import json, sys
obj = {}
for kv in sys.argv[1:]:
    key, _, value = kv.partition("=")
    try:
        obj[key] = json.loads(value)
    except ValueError:
        obj[key] = value
print(json.dumps(obj))
PY
}

# Write out the dirty pages of earlier steps (GiB of outputs) before a timed
# step, so their writeback does not land in its time: it slows big writes and
# every fsync, which the small-file gets do several times each.
settle() { timeout 300 sync || true; }

part_failed() { log "$1: FAILED: $2"; record part="$1" error="$2"; FAILED=1; }

# The wsresume serve process itself (the child of GNU time).
serve_pid() { pgrep -P "$WS_SERVE_PID" | head -n1; }
rchar_of() { awk '/^rchar:/ {print $2}' "/proc/$1/io"; }
usecs() { local t=${EPOCHREALTIME//[.,]/}; echo "$((10#$t))"; }
# tcpext NAME: a TcpExt counter of /proc/net/netstat (the whole network
# namespace: other programs on the host count too).
tcpext() { awk -v key="$1" '/^TcpExt:/ { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 } else print $col[key] }' /proc/net/netstat; }
json_field() { python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline()).get(sys.argv[2]))' "$1" "$2"; }

# strace_reads LOG SUFFIX: "BYTES CALLS" read (read, pread64, readv, preadv,
# preadv2) from files whose path ends in SUFFIX, in an `strace -f -y` log.
strace_reads() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, suffix = sys.argv[1], sys.argv[2]
names = r"(?:read|pread64|readv|preadv|preadv2)"
call = re.compile(r"^(\d+)\s+" + names + r"\(\d+<([^>]*)>")
resumed = re.compile(r"^(\d+)\s+<\.\.\. " + names + r" resumed>")
pending, total, calls = {}, 0, 0
for line in open(path, errors="replace"):
    m = call.match(line)
    if m:
        pid, name = m.group(1), m.group(2)
        if line.rstrip().endswith("<unfinished ...>"):
            pending[pid] = name
            continue
    else:
        m = resumed.match(line)
        if not m:
            continue
        name = pending.pop(m.group(1), "")
    if not name.endswith(suffix):
        continue
    got = re.findall(r"\)\s+=\s+(-?\d+)", line)
    if got and int(got[-1]) > 0:
        total += int(got[-1])
        calls += 1
print(total, calls)
PY
}

# --- resume ------------------------------------------------------------------
# A 50 % partial of a BENCH_RESUME_SIZE file, resumed, against a fresh get of
# the same file; each get against a freshly started server (cold: the server
# hashes what it sends, from the resume point for the resumed get).
#
# The partial: a full get, interrupted with SIGINT (it commits what is
# verified and exits 130) as soon as its chunk log (32 bytes per verified
# chunk) holds half the chunks. The log lags the transfer by up to one commit
# interval, and SIGINT commits what was verified meanwhile, so this get runs
# with --limit-rate at 5 % of the file per second (half the file in about
# 10 s): the partial ends at 50 % or a little more. The report gives the
# exact fraction and compares the time ratio with the fraction left to fetch.
#
# Prefix bytes re-read: counted in a second resumed run, of an identical copy
# of the partial, under `strace -f -y --seccomp-bpf` (only read calls stop the
# process): every read, pread64, readv, preadv and preadv2 from the part file
# is summed. /proc/PID/io cannot tell the part file from the socket, and
# strace would slow the timed run, so the timed run is not traced. `cp -p`
# keeps the part file's length and mtime (ns), so the copy is as "untouched"
# as the original (checked). The server's reads during the timed resumed get
# are its /proc/PID/io rchar (every read, sockets included; the client sends
# it a few hundred bytes).
part_resume() {
  local file sha bytes name out copy chunks half logged rc verified ok=true
  file=$(make_sized "$RESUME_SIZE"); sha=$(sha_of_sized "$RESUME_SIZE")
  bytes=$(stat -c %s "$file"); name=$(basename "$file")
  out=$WORK/out/resume.bin; copy=$WORK/out/resume-traced.bin
  chunks=$(( (bytes + CHUNK - 1) / CHUNK )); half=$(( (chunks + 1) / 2 ))
  rm -f "$out" "$out".wsresume-* "$copy" "$copy".wsresume-* "$WORK/out/resume-fresh.bin"

  log "resume: making a 50 % partial of $RESUME_SIZE"
  start_wsresume
  "$WS" get "$WS_URL/$name" "$out" -q --chunk-size "$CHUNK" --limit-rate $((bytes / 20 + 1)) &
  local getpid=$!; PIDS+=("$getpid")
  logged=0
  for _ in $(seq 6000); do # 10 ms steps (and stat), 1 to 2 minutes at most
    logged=$(( $(stat -c %s "$out.wsresume-chunks" 2>/dev/null || echo 0) / 32 ))
    [ "$logged" -ge "$half" ] && break
    kill -0 "$getpid" 2>/dev/null || break
    sleep 0.01
  done
  kill -INT "$getpid" 2>/dev/null || true
  rc=0; wait "$getpid" || rc=$?
  stop_wsresume
  if [ "$rc" != 130 ] || [ "$logged" -lt "$half" ] || [ ! -f "$out.wsresume-state" ]; then
    part_failed resume "could not make a 50 % partial (get exited $rc with $logged of $chunks chunks logged)"
    return
  fi
  verified=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["verified_chunks"])' "$out.wsresume-state")
  for suffix in part state chunks; do cp -p "$out.wsresume-$suffix" "$copy.wsresume-$suffix"; done
  if [ "$(stat -c '%s %.9Y' "$out.wsresume-part")" != "$(stat -c '%s %.9Y' "$copy.wsresume-part")" ]; then
    part_failed resume "cp -p did not keep the part file's length and mtime"
    return
  fi

  log "resume: timed resumed get ($verified of $chunks chunks verified)"
  settle
  start_wsresume
  local spid r0 r1 resumed_s resumed_rss
  spid=$(serve_pid); r0=$(rchar_of "$spid")
  if ! /usr/bin/time -f '%e %M' -o "$WORK/t.txt" "$WS" get "$WS_URL/$name" "$out" -q --json \
      --chunk-size "$CHUNK" > "$WORK/resume.json"; then
    stop_wsresume; part_failed resume "the resumed get failed"; return
  fi
  r1=$(rchar_of "$spid")
  stop_wsresume
  read -r resumed_s resumed_rss < "$WORK/t.txt"
  { [ "$(json_field "$WORK/resume.json" sha256)" = "$sha" ] && cmp -s "$file" "$out"; } || ok=false
  rm -f "$out"

  log "resume: traced resumed get of the copy"
  start_wsresume
  if ! strace -f -qq --seccomp-bpf -y -s 0 -e trace=read,pread64,readv,preadv,preadv2 \
      -o "$WORK/resume.strace" "$WS" get "$WS_URL/$name" "$copy" -q --json --chunk-size "$CHUNK" \
      > "$WORK/resume-traced.json"; then
    stop_wsresume; part_failed resume "the traced resumed get failed"; return
  fi
  stop_wsresume
  local part_reads log_reads
  part_reads=$(strace_reads "$WORK/resume.strace" .wsresume-part)
  log_reads=$(strace_reads "$WORK/resume.strace" .wsresume-chunks)
  { [ "$(json_field "$WORK/resume-traced.json" sha256)" = "$sha" ] && cmp -s "$file" "$copy"; } || ok=false
  [ "$(json_field "$WORK/resume-traced.json" resumed_from)" = "$(json_field "$WORK/resume.json" resumed_from)" ] || ok=false
  rm -f "$copy"

  log "resume: timed fresh get"
  settle
  start_wsresume
  local fresh_s fresh_rss
  if ! /usr/bin/time -f '%e %M' -o "$WORK/t.txt" "$WS" get "$WS_URL/$name" "$WORK/out/resume-fresh.bin" -q --json \
      --chunk-size "$CHUNK" > "$WORK/fresh.json"; then
    stop_wsresume; part_failed resume "the fresh get failed"; return
  fi
  stop_wsresume
  read -r fresh_s fresh_rss < "$WORK/t.txt"
  { [ "$(json_field "$WORK/fresh.json" sha256)" = "$sha" ] && cmp -s "$file" "$WORK/out/resume-fresh.bin"; } || ok=false
  rm -f "$WORK/out/resume-fresh.bin"
  [ "$ok" = true ] || { part_failed resume "an output's SHA-256 or resume point is wrong"; return; }

  record part=resume size="$RESUME_SIZE" bytes="$bytes" chunk="$CHUNK" chunks="$chunks" \
    verified_chunks="$verified" resumed_s="$resumed_s" resumed_rss_kb="$resumed_rss" \
    fresh_s="$fresh_s" fresh_rss_kb="$fresh_rss" \
    resumed_json="$(head -n1 "$WORK/resume.json")" fresh_json="$(head -n1 "$WORK/fresh.json")" \
    part_read_bytes="${part_reads% *}" part_read_calls="${part_reads#* }" \
    log_read_bytes="${log_reads% *}" server_rchar="$((r1 - r0))"
}

# --- memory ------------------------------------------------------------------
# Peak RSS (GNU time %M) of `get` and, with BENCH_MEM_SEND=1, `send`, for each
# size in BENCH_MEM_SIZES; a freshly started server per transfer, so its peak
# RSS is that transfer's (cold: it hashes what it sends).
part_memory() {
  local size file name
  for size in $MEM_SIZES; do
    file=$(make_sized "$size"); name=$(basename "$file")
    memory_one get "$size" "$file" "$WORK/out/mem.bin" get "@URL@/$name" "$WORK/out/mem.bin"
    [ "$MEM_SEND" = 1 ] || continue
    memory_one send "$size" "$file" "$WORK/src/mem-up.bin" send "$file" "@URL@/mem-up.bin"
  done
}

# memory_one OP SIZE SOURCE OUTPUT ARGS...: one transfer (`wsresume ARGS`,
# with @URL@ replaced by the server's URL) against a freshly
# started server, timed, checked (OUTPUT must equal SOURCE) and recorded.
memory_one() {
  local op=$1 size=$2 file=$3 out=$4 secs rss; shift 4
  log "memory: $op $size"
  rm -f "$out" "$out".wsresume-*
  settle
  start_wsresume
  local args=("${@//@URL@/$WS_URL}")
  if ! /usr/bin/time -f '%e %M' -o "$WORK/t.txt" "$WS" "${args[@]}" -q --chunk-size "$CHUNK"; then
    stop_wsresume; part_failed memory "$op of $size failed"; return 0
  fi
  stop_wsresume
  read -r secs rss < "$WORK/t.txt"
  cmp -s "$file" "$out" || { part_failed memory "$op of $size: the output differs"; return 0; }
  record part=memory op="$op" size="$size" bytes="$(stat -c %s "$file")" seconds="$secs" \
    client_rss_kb="$rss" server_rss_kb="$(cat "$WORK/serve.rss")"
  rm -f "$out"
}

# --- concurrency -------------------------------------------------------------
# BENCH_CONNS downloads of a BENCH_CONN_SIZE file at once from one freshly
# started server, by examples/loadgen.rs (each verified against eof and the
# file's SHA-256); the server's peak RSS over the whole run. Also recorded,
# to explain a time-to-first-byte tail: the server's listen backlog (ss
# Send-Q) and how many connection attempts overflowed a listen queue meanwhile
# (TcpExt ListenOverflows; each costs the client a SYN retransmit, 1 s).
part_concurrency() {
  local file sha name rc=0 secs rss backlog o0 o1
  file=$(make_sized "$CONN_SIZE"); sha=$(sha_of_sized "$CONN_SIZE"); name=$(basename "$file")
  log "concurrency: $CONNS gets of $CONN_SIZE at once (open-file limit $(ulimit -n))"
  start_wsresume
  backlog=$(ss -ltnH "sport = :${WS_URL##*:}" | awk '{print $3; exit}')
  settle
  o0=$(tcpext ListenOverflows)
  /usr/bin/time -f '%e %M' -o "$WORK/t.txt" timeout 600 "$LOADGEN" "$WS_URL/$name" \
    -n "$CONNS" --expect "$sha" --chunk-size "$CHUNK" --timeout 300 \
    > "$WORK/loadgen.json" 2> "$WORK/loadgen.err" || rc=$?
  o1=$(tcpext ListenOverflows)
  stop_wsresume
  read -r secs rss < "$WORK/t.txt" || true
  if [ ! -s "$WORK/loadgen.json" ]; then
    part_failed concurrency "loadgen exited $rc: $(head -c 300 "$WORK/loadgen.err")"; return
  fi
  [ "$rc" = 0 ] || { FAILED=1; log "concurrency: loadgen exited $rc: $(head -c 300 "$WORK/loadgen.err")"; }
  record part=concurrency size="$CONN_SIZE" nofile="$(ulimit -n)" rc="$rc" \
    backlog="${backlog:-0}" listen_overflows="$((o1 - o0))" \
    loadgen="$(head -n1 "$WORK/loadgen.json")" loadgen_rss_kb="${rss:-0}" \
    server_rss_kb="$(cat "$WORK/serve.rss")" errors="$(head -c 300 "$WORK/loadgen.err")"
}

# --- small -------------------------------------------------------------------
# BENCH_SMALL_COUNT sequential downloads of a BENCH_SMALL_SIZE file, each into
# a new file: `wsresume get` (one process each, as a script would run it) and
# `curl` from nginx, alternating blocks of 100 so both see the same machine;
# one untimed warm-up each. Wall time from bash's $EPOCHREALTIME around each
# block; every output is compared with the source after the timed loops.
part_small() {
  local file name wsdir curldir wsurl curlurl
  file=$(make_sized "$SMALL_SIZE"); name=$(basename "$file")
  wsdir=$WORK/out/small-ws; curldir=$WORK/out/small-curl
  rm -rf "$wsdir" "$curldir"; mkdir -p "$wsdir" "$curldir"
  [ -n "${NGINX_PORT:-}" ] || start_nginx
  start_wsresume
  wsurl=$WS_URL/$name; curlurl=http://127.0.0.1:$NGINX_PORT/$name
  for _ in $(seq 100); do curl -sf -o /dev/null "$curlurl" && break; sleep 0.05; done
  { "$WS" get "$wsurl" "$wsdir/warm-up.bin" -q && curl -sf -o "$curldir/warm-up.bin" "$curlurl"; } \
    || { stop_wsresume; part_failed small "the warm-up failed"; return; }
  settle
  log "small: $SMALL_COUNT sequential gets and curls of $SMALL_SIZE"
  local done=0 n i t0 ws_us=0 curl_us=0 err="" deadline=$((SECONDS + 1200))
  while [ "$done" -lt "$SMALL_COUNT" ] && [ -z "$err" ]; do
    n=$(( SMALL_COUNT - done < 100 ? SMALL_COUNT - done : 100 ))
    t0=$(usecs)
    for ((i = done; i < done + n; i++)); do
      "$WS" get "$wsurl" "$wsdir/$i.bin" -q --retries 0 --timeout 10 || { err="wsresume get $i failed"; break; }
    done
    ws_us=$(( ws_us + $(usecs) - t0 ))
    t0=$(usecs)
    for ((i = done; i < done + n; i++)); do
      curl -sf --max-time 10 -o "$curldir/$i.bin" "$curlurl" || { err="curl $i failed"; break; }
    done
    curl_us=$(( curl_us + $(usecs) - t0 ))
    done=$((done + n))
    if [ "$SECONDS" -ge "$deadline" ] && [ "$done" -lt "$SMALL_COUNT" ]; then
      err="stopped after $done transfers each: over 20 minutes"
    fi
  done
  stop_wsresume
  [ -z "$err" ] || { part_failed small "$err"; return; }
  local bad
  bad=$(python3 - "$file" "$wsdir" "$curldir" "$SMALL_COUNT" <<'PY'
import os, sys
src = open(sys.argv[1], "rb").read()
count = int(sys.argv[4])
bad = 0
for d in sys.argv[2:4]:
    for i in range(count):
        try:
            bad += open(os.path.join(d, f"{i}.bin"), "rb").read() != src
        except OSError:
            bad += 1
    bad += sum(".wsresume-" in n for n in os.listdir(d))
print(bad)
PY
)
  [ "$bad" = 0 ] || { part_failed small "$bad outputs differ from the source, are missing or left partial files"; return; }
  record part=small size="$SMALL_SIZE" count="$SMALL_COUNT" wsresume_us="$ws_us" curl_us="$curl_us" \
    server_rss_kb="$(cat "$WORK/serve.rss")"
  rm -rf "$wsdir" "$curldir"
}

# shellcheck source=bench/tree.sh
. "$REPO/bench/tree.sh"
# shellcheck source=bench/s3.sh
. "$REPO/bench/s3.sh"
# shellcheck source=bench/compress.sh
. "$REPO/bench/compress.sh"

write_results() {
  {
    echo "# wsresume benchmark results"
    echo
    echo "Parts: $ONLY. $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wsresume $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')."
    echo
    if want compare && [ -s "$WORK/times" ]; then
      echo "## Throughput: get and send against curl, websocat, openssl"
      echo
      python3 "$REPO/bench/report.py" compare "$WORK/times" "$BYTES" "${COMPARE_RSS:-0}"
    fi
    if [ -s "$WORK/parts.jsonl" ]; then
      python3 "$REPO/bench/report.py" parts "$WORK/parts.jsonl"
      if want s3; then s3_report "$WORK/parts.jsonl"; fi
    fi
  } > "$REPO/bench/results.md"
}

main() {
  local part
  for part in ${ONLY//,/ }; do
    case $part in
      compare | resume | memory | concurrency | small | tree | s3 | compress) ;;
      *) log "BENCH_ONLY: unknown part '$part' (compare, resume, memory, concurrency, small, tree, s3, compress)"; exit 2 ;;
    esac
  done
  # 1,000 connections need more than 1,024 descriptors on each side.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  install_tools
  mkdir -p "$WORK/src" "$WORK/out"
  rm -f "$WORK/times" "$WORK/parts.jsonl"
  for part in compare resume memory concurrency small tree s3 compress; do
    want "$part" || continue
    "part_$part"
    write_results
  done
  cat "$REPO/bench/results.md"
  exit "$FAILED"
}

main "$@"
