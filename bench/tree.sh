# The `tree` part of bench/run.sh (sourced by it; uses its helpers: record,
# settle, usecs, make_sized, start_nginx, start_wsresume, stop_wsresume).
#
# Trees moved side by side in one run by rsync (daemon, `rsync -a` through
# rsync://), curl (every file of the tree on ONE keep-alive connection to
# nginx: one process, all URLs in a --config file) and `wsresume get -r` /
# `send -r` against `wsresume serve`, on two links:
#   loopback  straight to each server on 127.0.0.1
#   delay     every client through bench/delay_proxy.py, which delivers every
#             byte BENCH_TREE_DELAY_MS (25) late in each direction (a 50 ms
#             round trip; the TCP handshake with the proxy itself is not
#             delayed)
# Trees (BENCH_TREE_SCALE multiplies counts and the large files' size):
#   t300   300 files x 16 KiB
#   t10k   10,000 files x 4 KiB
#   mixed  three 100 MiB files among 1,000 files x 16 KiB
# For each link and tree: get by each tool, then the same get again into the
# finished tree (the no-op re-run), then send (rsync and wsresume) and its
# no-op re-run. Every transfer is checked: the output's sha256sum manifest
# (every file's path and SHA-256, so also the file count and no leftovers)
# equals the source's. Each run is capped at BENCH_TREE_TIMEOUT seconds (120)
# on loopback, BENCH_TREE_DELAY_TIMEOUT (60) through the delay, and recorded
# as "timeout" past it; a no-op re-run after a transfer that timed out runs
# into a tree completed with `cp -a` (noted in the report). Also: a single small get through the delay
# vs curl of the same file (BENCH_TREE_SINGLE_RUNS each, medians), and a
# single get of one file as large as the mixed tree's large files together
# (loopback, freshly started server) to compare per-byte rates with the
# mixed tree's get -r (also against a freshly started server).
#
#   BENCH_ONLY=tree bench/run.sh
#   BENCH_ONLY=tree BENCH_TREE_SCALE=0.1 BENCH_TREE_DELAY_TIMEOUT=20 bench/run.sh  # quick
#   BENCH_ONLY=tree BENCH_TREE_LINKS=loopback BENCH_TREE_SETS=t10k bench/run.sh
#   BENCH_ONLY=tree BENCH_PARALLEL=4 bench/run.sh     # wsresume ... --parallel 4

TREE_SCALE=${BENCH_TREE_SCALE:-1}
TREE_LINKS=${BENCH_TREE_LINKS:-loopback delay}
TREE_SETS=${BENCH_TREE_SETS:-t300 t10k mixed}
TREE_DELAY_SETS=${BENCH_TREE_DELAY_SETS:-t300 t10k}
TREE_DELAY_MS=${BENCH_TREE_DELAY_MS:-25}
TREE_TIMEOUT=${BENCH_TREE_TIMEOUT:-120}
TREE_DELAY_TIMEOUT=${BENCH_TREE_DELAY_TIMEOUT:-60}
TREE_RUNS=${BENCH_TREE_RUNS:-1}
TREE_SINGLE_RUNS=${BENCH_TREE_SINGLE_RUNS:-5}
WS_PAR=()
PROXY_PIDS=()
TREE_NOTE=""
[ -z "${BENCH_PARALLEL:-}" ] || WS_PAR=(--parallel "$BENCH_PARALLEL")

scaled() { python3 -c "import sys; print(max(1, round($1 * float(sys.argv[1]))))" "$TREE_SCALE"; }

# tree_spec SET: "SMALL_COUNT SMALL_BYTES BIG_COUNT BIG_BYTES" of a tree.
tree_spec() {
  case $1 in
    t300) echo "$(scaled 300) 16384 0 0" ;;
    t10k) echo "$(scaled 10000) 4096 0 0" ;;
    mixed) echo "$(scaled 1000) 16384 3 $(scaled $((100 << 20)))" ;;
    *) log "BENCH_TREE_SETS: unknown tree '$1' (t300, t10k, mixed)"; exit 2 ;;
  esac
}

# manifest DIR: every regular file's SHA-256 and path, sorted by path.
manifest() {
  (cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# make_tree SET: random files under $WORK/src/trees/SET (kept while its spec
# and manifest stand), small files 100 to a directory (d000/f00000.bin), the
# large ones at the top (big0.bin...). Sets TREE_FILES and TREE_BYTES.
make_tree() {
  local set=$1 spec dir sums
  spec=$(tree_spec "$set"); dir=$WORK/src/trees/$set; sums=$WORK/sums/tree-$set
  mkdir -p "$WORK/sums"
  if [ "$(cat "$sums.spec" 2>/dev/null)" != "$spec" ] || [ ! -s "$sums.sha256" ] \
    || ! manifest "$dir" | cmp -s - "$sums.sha256"; then
    log "tree: making $set ($spec)"
    rm -rf "$dir" "$sums.spec"
    # shellcheck disable=SC2086
    python3 - "$dir" $spec <<'PY'
import os, sys
root, small_n, small_b, big_n, big_b = sys.argv[1], *map(int, sys.argv[2:])
for i in range(small_n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(small_b))
os.makedirs(root, exist_ok=True)
for i in range(big_n):
    with open(os.path.join(root, f"big{i}.bin"), "wb") as f:
        for _ in range(0, big_b, 1 << 20):
            f.write(os.urandom(min(1 << 20, big_b)))
        f.truncate(big_b)
PY
    manifest "$dir" > "$sums.sha256"
    echo "$spec" > "$sums.spec"
  fi
  TREE_FILES=$(wc -l < "$sums.sha256")
  TREE_BYTES=$(find "$dir" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
}

start_rsyncd() {
  RSYNC_PORT=$(free_port)
  cat > "$WORK/rsyncd.conf" <<CONF
pid file = $WORK/rsyncd.pid
log file = $WORK/rsyncd.log
use chroot = false
[bench]
  path = $WORK/src
  read only = false
  uid = $(id -u)
  gid = $(id -g)
CONF
  rm -f "$WORK/rsyncd.pid"
  rsync --daemon --no-detach --config="$WORK/rsyncd.conf" --address=127.0.0.1 --port="$RSYNC_PORT" &
  PIDS+=($!)
  for _ in $(seq 100); do rsync "rsync://127.0.0.1:$RSYNC_PORT/" >/dev/null 2>&1 && return; sleep 0.05; done
  log "tree: rsync daemon did not start: $(tail -n3 "$WORK/rsyncd.log" 2>/dev/null)"; exit 1
}

# start_delay TARGET_PORT: a delay proxy in front of it; sets PROXY_PORT.
start_delay() {
  local file=$WORK/proxy-$1.port
  rm -f "$file"
  python3 "$REPO/bench/delay_proxy.py" "$1" --delay-ms "$TREE_DELAY_MS" --port-file "$file" >/dev/null &
  PIDS+=($!); PROXY_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$file" ] && { PROXY_PORT=$(cat "$file"); return; }; sleep 0.05; done
  log "tree: the delay proxy did not start"; exit 1
}
stop_delays() {
  local p
  for p in "${PROXY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PROXY_PIDS=()
}

# tree_ports LINK: the ports clients use for nginx, rsyncd and wsresume serve.
tree_ports() {
  local ws_port=${WS_URL##*:}
  if [ "$1" = loopback ]; then
    C_NGINX=$NGINX_PORT C_RSYNC=$RSYNC_PORT C_WS=$ws_port
  else
    start_delay "$NGINX_PORT"; C_NGINX=$PROXY_PORT
    start_delay "$RSYNC_PORT"; C_RSYNC=$PROXY_PORT
    start_delay "$ws_port"; C_WS=$PROXY_PORT
  fi
}

# tree_time LINK SET OP TOOL OUT CMD...: run CMD (capped at RUN_TIMEOUT), then
# check OUT against SET's manifest, and record the result.
tree_time() {
  local link=$1 set=$2 op=$3 tool=$4 out=$5 rc=0 t0 us status=ok detail=""; shift 5
  settle
  t0=$(usecs)
  timeout -k 5 "$RUN_TIMEOUT" "$@" > "$WORK/tree-cmd.out" 2> "$WORK/tree-cmd.err" || rc=$?
  us=$(( $(usecs) - t0 ))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=timeout
  elif [ "$rc" != 0 ]; then
    status=failed detail="exit $rc: $(grep -m1 . "$WORK/tree-cmd.err" | head -c 300)"
  elif ! manifest "$out" | cmp -s - "$WORK/sums/tree-$set.sha256"; then
    status=wrong detail="the output's sha256sum manifest differs from the source's"
  fi
  [ "$status" = ok ] || [ "$status" = timeout ] || { FAILED=1; log "tree: $link $set $op $tool: $status $detail"; }
  if [ "$tool" = curl ] && [ "$status" = ok ]; then
    detail="connections: $(awk '{s += $1} END {print s + 0}' "$WORK/tree-cmd.out")"
  fi
  log "tree: $link $set $op $tool: $status $(awk -v u="$us" 'BEGIN {printf "%.2f s", u / 1e6}')"
  record part=tree kind=run link="$link" set="$set" op="$op" tool="$tool" \
    seconds="$(awk -v u="$us" 'BEGIN {printf "%.3f", u / 1e6}')" status="$status" detail="$detail" \
    note="$TREE_NOTE" timeout_s="$RUN_TIMEOUT"
  LAST_STATUS=$status TREE_NOTE=""
}

# curl_config SET OUT PORT: one url/output pair per file of the tree.
curl_config() {
  awk -v base="http://127.0.0.1:$3/trees/$1/" -v out="$2/" \
    '{ p = substr($0, 67); printf "url = \"%s%s\"\noutput = \"%s%s\"\n", base, p, out, p }' \
    "$WORK/sums/tree-$1.sha256"
}

# tree_set LINK SET: every tool's get, no-op get, send, no-op send.
tree_set() {
  local link=$1 set=$2 src=$WORK/src/trees/$2 out=$WORK/out/tree ws_ok rs_ok
  local rsync_url="rsync://127.0.0.1:$C_RSYNC/bench" ws_url="ws://127.0.0.1:$C_WS"
  rm -rf "$out" "$WORK/src/up"
  mkdir -p "$out/rsync" "$out/curl" "$out/ws" "$WORK/src/up/rsync" "$WORK/src/up/ws"

  tree_time "$link" "$set" get rsync "$out/rsync/$set" rsync -a "$rsync_url/trees/$set/" "$out/rsync/$set/"
  rs_ok=$LAST_STATUS
  curl_config "$set" "$out/curl/$set" "$C_NGINX" > "$WORK/tree-curl.cfg"
  tree_time "$link" "$set" get curl "$out/curl/$set" curl -sSf --create-dirs -w '%{num_connects}\n' -K "$WORK/tree-curl.cfg"
  rm -rf "$out/curl"
  tree_time "$link" "$set" get wsresume "$out/ws/$set" "$WS" get -r "$ws_url/trees/$set" "$out/ws/" -q "${WS_PAR[@]}"
  ws_ok=$LAST_STATUS
  tree_noop "$link" "$set" noop_get rsync "$rs_ok" "$src" "$out/rsync/$set" rsync -a "$rsync_url/trees/$set/" "$out/rsync/$set/"
  tree_noop "$link" "$set" noop_get wsresume "$ws_ok" "$src" "$out/ws/$set" "$WS" get -r "$ws_url/trees/$set" "$out/ws/" -q "${WS_PAR[@]}"
  rm -rf "$out"

  tree_time "$link" "$set" send rsync "$WORK/src/up/rsync/$set" rsync -a "$src/" "$rsync_url/up/rsync/$set/"
  rs_ok=$LAST_STATUS
  tree_time "$link" "$set" send wsresume "$WORK/src/up/ws/$set" "$WS" send -r "$src" "$ws_url/up/ws/" -q "${WS_PAR[@]}"
  ws_ok=$LAST_STATUS
  tree_noop "$link" "$set" noop_send rsync "$rs_ok" "$src" "$WORK/src/up/rsync/$set" rsync -a "$src/" "$rsync_url/up/rsync/$set/"
  tree_noop "$link" "$set" noop_send wsresume "$ws_ok" "$src" "$WORK/src/up/ws/$set" "$WS" send -r "$src" "$ws_url/up/ws/" -q "${WS_PAR[@]}"
  rm -rf "$WORK/src/up"
}

# tree_noop LINK SET OP TOOL STATUS_OF_THE_TRANSFER SOURCE OUT CMD...: the
# re-run into the finished tree. When the transfer before it did not finish
# (a timeout), OUT is first made a finished copy of SOURCE with `cp -a`
# (same contents and modification times), so the no-op is measured anyway.
tree_noop() {
  local link=$1 set=$2 op=$3 tool=$4 before=$5 source=$6 out=$7; shift 5
  if [ "$before" != ok ]; then
    rm -rf "$out"; cp -a "$source" "$out"
    log "tree: $link $set $op $tool: the transfer before it: $before; the tree completed with cp -a"
  fi
  shift
  [ "$before" = ok ] || TREE_NOTE="into a tree completed with cp -a (the transfer before it: $before)"
  tree_time "$link" "$set" "$op" "$tool" "$@"
}

# tree_single_small: one small get through the delay vs curl of the same
# file, TREE_SINGLE_RUNS each, alternated, after an untimed warm-up of each.
tree_single_small() {
  local file name i t0 ok=true
  file=$(make_sized 4K); name=$(basename "$file")
  rm -f "$WORK/out/single-"*
  "$WS" get "ws://127.0.0.1:$C_WS/$name" "$WORK/out/single-ws.bin" -q || ok=false
  curl -sSf -o "$WORK/out/single-curl.bin" "http://127.0.0.1:$C_NGINX/$name" || ok=false
  for i in $(seq "$TREE_SINGLE_RUNS"); do
    rm -f "$WORK/out/single-"*
    t0=$(usecs)
    "$WS" get "ws://127.0.0.1:$C_WS/$name" "$WORK/out/single-ws.bin" -q || ok=false
    record part=tree kind=single link=delay op=small tool=wsresume seconds="$(( $(usecs) - t0 ))e-6"
    t0=$(usecs)
    curl -sSf -o "$WORK/out/single-curl.bin" "http://127.0.0.1:$C_NGINX/$name" || ok=false
    record part=tree kind=single link=delay op=small tool=curl seconds="$(( $(usecs) - t0 ))e-6"
    cmp -s "$file" "$WORK/out/single-ws.bin" && cmp -s "$file" "$WORK/out/single-curl.bin" || ok=false
  done
  [ "$ok" = true ] || { FAILED=1; record part=tree kind=run link=delay set=single op=small tool=both status=failed detail="a single get failed or differs"; }
  rm -f "$WORK/out/single-"*
}

# tree_single_large: a get of one file as large as the mixed tree's large
# files together, from a freshly started server (loopback).
tree_single_large() {
  local size file out=$WORK/out/single-large.bin t0 us status=ok
  size=$(( $(tree_spec mixed | cut -d' ' -f4) * 3 ))
  file=$(make_sized "$size")
  rm -f "$out" "$out".wsresume-*
  settle
  start_wsresume
  t0=$(usecs)
  timeout -k 5 "$TREE_TIMEOUT" "$WS" get "$WS_URL/$(basename "$file")" "$out" -q || status=failed
  us=$(( $(usecs) - t0 ))
  stop_wsresume
  if [ "$status" = ok ] && [ "$(sha256sum < "$out" | cut -d' ' -f1)" != "$(sha_of_sized "$size")" ]; then
    status=wrong
  fi
  [ "$status" = ok ] || { FAILED=1; log "tree: the single large get: $status"; }
  record part=tree kind=single link=loopback op=large tool=wsresume bytes="$size" \
    seconds="$(awk -v u="$us" 'BEGIN {printf "%.3f", u / 1e6}')" status="$status"
  rm -f "$out"
}

part_tree() {
  local link set sets spec
  record part=tree kind=config scale="$TREE_SCALE" delay_ms="$TREE_DELAY_MS" \
    timeout_s="$TREE_TIMEOUT" delay_timeout_s="$TREE_DELAY_TIMEOUT" \
    runs="$TREE_RUNS" parallel="${BENCH_PARALLEL:-}" rsync="$(rsync --version | head -n1 | awk '{print $1, $3}')" \
    curl="$(curl --version | head -n1 | cut -d' ' -f1,2)" nginx="$(nginx -v 2>&1 | cut -d/ -f2)" \
    wsresume="$("$WS" --version)" load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
  for set in $TREE_SETS; do
    make_tree "$set"; spec=$(tree_spec "$set")
    record part=tree kind=set set="$set" files="$TREE_FILES" bytes="$TREE_BYTES" spec="$spec"
  done
  [ -n "${NGINX_PORT:-}" ] || start_nginx
  start_rsyncd
  for link in $TREE_LINKS; do
    case $link in
      loopback) sets=$TREE_SETS RUN_TIMEOUT=$TREE_TIMEOUT ;;
      delay) RUN_TIMEOUT=$TREE_DELAY_TIMEOUT sets=$(for s in $TREE_SETS; do if [[ " $TREE_DELAY_SETS " == *" $s "* ]]; then echo "$s"; fi; done) ;;
      *) log "BENCH_TREE_LINKS: unknown link '$link' (loopback, delay)"; exit 2 ;;
    esac
    for set in $sets; do
      for run in $(seq "$TREE_RUNS"); do
        log "tree: $link, $set, run $run of $TREE_RUNS"
        start_wsresume # freshly started: its first get of the tree is cold
        tree_ports "$link"
        tree_set "$link" "$set"
        stop_wsresume
        stop_delays
      done
    done
    if [ "$link" = delay ]; then
      start_wsresume; tree_ports delay
      tree_single_small
      stop_wsresume
      stop_delays
    fi
  done
  if [[ " $TREE_SETS " == *" mixed "* ]] && [[ " $TREE_LINKS " == *" loopback "* ]]; then
    tree_single_large
  fi
  record part=tree kind=load load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
}
