# The `compress` part of bench/run.sh (sourced by it; uses its helpers:
# record, settle, usecs, free_port, bytes_of, start_wsresume, stop_wsresume,
# part_failed, log).
#
# `--compress auto` (the default) against `--compress off`, side by side in
# one run, for `get` and `send`:
#   random  BENCH_COMPRESS_RANDOM (1G) of /dev/urandom on loopback, straight
#           to the server, after one unrecorded warm-up get:
#           BENCH_COMPRESS_RUNS (3) rounds, modes alternated; medians, and
#           the median of each round's auto/off ratio (target: auto not
#           slower than off by more than 3 %)
#   text    BENCH_COMPRESS_TEXT (256M) of a generated server log through
#           bench/rate_proxy.py at BENCH_COMPRESS_RATE bytes/s (10 MB/s) each
#           way, one round (target: auto at least 3x faster than off); the
#           proxy counts the bytes on the wire
#   tree    BENCH_COMPRESS_TREE (10000) text logs of 4 KiB (cut from the
#           same generator) by `get -r` and `send -r` through the same
#           proxy: their small files move in sessions (wsresume.v2); one
#           round, auto / off / on; the bytes on the wire
# Every output is checked against the source's SHA-256 (a tree: its
# sha256sum manifest).
#
#   BENCH_ONLY=compress bench/run.sh
#   BENCH_ONLY=compress BENCH_COMPRESS_RANDOM=256M BENCH_COMPRESS_TEXT=64M bench/run.sh  # quick
#   BENCH_ONLY=compress BENCH_COMPRESS_CASES=random bench/run.sh   # one case
#   BENCH_ONLY=compress BENCH_COMPRESS_CASES=tree bench/run.sh

COMPRESS_RANDOM=${BENCH_COMPRESS_RANDOM:-1G}
COMPRESS_TEXT=${BENCH_COMPRESS_TEXT:-256M}
COMPRESS_RUNS=${BENCH_COMPRESS_RUNS:-3}
COMPRESS_RATE=${BENCH_COMPRESS_RATE:-10000000}
COMPRESS_TREE=${BENCH_COMPRESS_TREE:-10000}
COMPRESS_CASES=${BENCH_COMPRESS_CASES:-random text tree}

# make_text_log FILE BYTES: a server log (lines alike in form, not content).
make_text_log() {
  python3 - "$1" "$2" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
r = random.Random(13)
levels = ["INFO"] * 6 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
paths = ["/api/v1/items", "/api/v1/users", "/static/app.js", "/health", "/api/v2/search"]
agents = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "python-requests/2.31", "Go-http-client/1.1"]
written, i = 0, 0
with open(path, "w") as f:
    while written < size:
        lines = []
        for _ in range(1000):
            i += 1
            lines.append(
                f"2026-12-07T{i // 3600000 % 24:02}:{i // 60000 % 60:02}:{i // 1000 % 60:02}.{i % 1000:03}Z "
                f"{r.choice(levels)} [worker-{r.randrange(32)}] {r.choice(('GET', 'GET', 'POST'))} "
                f"{r.choice(paths)}/{r.randrange(100000)} status={r.choice((200, 200, 200, 304, 404, 500))} "
                f"bytes={r.randrange(1 << 20)} took={r.randrange(2000)}ms peer=10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)} "
                f"ua=\"{r.choice(agents)}\" req={r.getrandbits(64):016x}\n"
            )
        block = "".join(lines)
        block = block[: size - written]
        f.write(block)
        written += len(block)
PY
}

compress_files() {
  local rbytes tbytes
  rbytes=$(bytes_of "$COMPRESS_RANDOM")
  tbytes=$(bytes_of "$COMPRESS_TEXT")
  if [ "$(stat -c %s "$WORK/src/cz-random.bin" 2>/dev/null || echo 0)" != "$rbytes" ]; then
    log "compress: making $COMPRESS_RANDOM of random data"
    head -c "$rbytes" /dev/urandom > "$WORK/src/cz-random.bin"
  fi
  if [ "$(stat -c %s "$WORK/src/cz-text.log" 2>/dev/null || echo 0)" != "$tbytes" ]; then
    log "compress: making a $COMPRESS_TEXT text log"
    make_text_log "$WORK/src/cz-text.log" "$tbytes"
  fi
  CZ_RANDOM_SHA=$(openssl dgst -sha256 -r "$WORK/src/cz-random.bin" | cut -d' ' -f1)
  CZ_TEXT_SHA=$(openssl dgst -sha256 -r "$WORK/src/cz-text.log" | cut -d' ' -f1)
}

# compress_run OP MODE URL SRC OUT SHA: one timed get or send; prints
# microseconds, or fails when the command fails or the output differs.
compress_run() {
  local op=$1 mode=$2 url=$3 src=$4 out=$5 sha=$6 t0 t1 got
  rm -f "$out"
  settle
  t0=$(usecs)
  # The client's CPU time (user + sys) goes to $WORK/cz-cpu: less
  # sensitive than the wall clock to other jobs on a shared machine.
  if [ "$op" = get ]; then
    /usr/bin/time -f '%U %S' -o "$WORK/cz-cpu" "$WS" get -q --compress "$mode" "$url" "$out" || return 1
  else
    /usr/bin/time -f '%U %S' -o "$WORK/cz-cpu" "$WS" send -q --compress "$mode" "$src" "$url" || return 1
  fi
  t1=$(usecs)
  got=$(openssl dgst -sha256 -r "$out" | cut -d' ' -f1)
  rm -f "$out"
  [ "$got" = "$sha" ] || { log "compress: $op $mode: SHA-256 mismatch"; return 1; }
  echo $((t1 - t0))
}

compress_random() {
  local round op mode us
  # Warm-up, not recorded: the server hashes the file once (its hash cache
  # then serves every round alike) and the page cache holds it.
  compress_run get off "$WS_URL/cz-random.bin" "" "$WORK/out/cz-random.bin" "$CZ_RANDOM_SHA" > /dev/null || return 1
  for round in $(seq "$COMPRESS_RUNS"); do
    for op in get send; do
      # Alternate which mode goes first.
      local modes="auto off"
      [ $((round % 2)) = 0 ] && modes="off auto"
      for mode in $modes; do
        if [ "$op" = get ]; then
          us=$(compress_run get "$mode" "$WS_URL/cz-random.bin" "" "$WORK/out/cz-random.bin" "$CZ_RANDOM_SHA") || return 1
        else
          us=$(compress_run send "$mode" "$WS_URL/cz-up-random.bin" "$WORK/src/cz-random.bin" "$WORK/src/cz-up-random.bin" "$CZ_RANDOM_SHA") || return 1
        fi
        local cpu; cpu=$(awk '{print $1 + $2}' "$WORK/cz-cpu")
        log "compress: random $op $mode round $round: $((us / 1000)) ms, client CPU ${cpu}s"
        record part=compress case=random op="$op" mode="$mode" round="$round" us="$us" cpu="$cpu" bytes="$(bytes_of "$COMPRESS_RANDOM")"
      done
    done
  done
}

# Start bench/rate_proxy.py at COMPRESS_RATE in front of the server: sets
# proxy_pid and url (the caller declares them local).
start_rate_proxy() {
  rm -f "$WORK/cz-proxy.port" "$WORK/cz-proxy.count"
  python3 "$REPO/bench/rate_proxy.py" "${WS_URL##*:}" --rate "$COMPRESS_RATE" \
    --port-file "$WORK/cz-proxy.port" --count-file "$WORK/cz-proxy.count" > /dev/null & proxy_pid=$!
  PIDS+=("$proxy_pid")
  for _ in $(seq 100); do [ -s "$WORK/cz-proxy.port" ] && break; sleep 0.05; done
  url="ws://127.0.0.1:$(cat "$WORK/cz-proxy.port")"
}

# Bytes on the wire so far, up + down, over every connection the proxy
# has finished.
wire_total() {
  if [ -s "$WORK/cz-proxy.count" ]; then awk '{s += $2 + $4} END {print s + 0}' "$WORK/cz-proxy.count"; else echo 0; fi
}

# The text log through the rate-limited proxy; the proxy's count file gives
# the bytes on the wire of each run.
compress_text() {
  local proxy_pid url op mode us before after
  start_rate_proxy
  for op in get send; do
    for mode in auto off; do
      before=$(wire_total)
      if [ "$op" = get ]; then
        us=$(compress_run get "$mode" "$url/cz-text.log" "" "$WORK/out/cz-text.log" "$CZ_TEXT_SHA") || { kill "$proxy_pid"; return 1; }
      else
        us=$(compress_run send "$mode" "$url/cz-up-text.log" "$WORK/src/cz-text.log" "$WORK/src/cz-up-text.log" "$CZ_TEXT_SHA") || { kill "$proxy_pid"; return 1; }
      fi
      # The count file is written when the connection ends.
      for _ in $(seq 100); do after=$(wire_total); [ "$after" != "$before" ] && break; sleep 0.05; done
      log "compress: text $op $mode: $((us / 1000)) ms, $((after - before)) bytes on the wire"
      record part=compress case=text op="$op" mode="$mode" round=1 us="$us" wire="$((after - before))" \
        bytes="$(bytes_of "$COMPRESS_TEXT")" rate="$COMPRESS_RATE"
    done
  done
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
}

# The text tree: COMPRESS_TREE files of 4 KiB cut from a text log, 100 to a
# directory, under $WORK/src/cz-tree (remade when the count changes).
compress_tree_files() {
  local dir=$WORK/src/cz-tree
  if [ "$(find "$dir" -type f 2>/dev/null | wc -l)" != "$COMPRESS_TREE" ]; then
    log "compress: making a tree of $COMPRESS_TREE text files of 4 KiB"
    rm -rf "$dir" "$WORK/cz-tree.log"
    make_text_log "$WORK/cz-tree.log" $((COMPRESS_TREE * 4096))
    python3 - "$WORK/cz-tree.log" "$dir" "$COMPRESS_TREE" <<'PY'
import os, sys
log, top, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(log, "rb") as f:
    for i in range(n):
        d = os.path.join(top, "d%03d" % (i // 100))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "app-%05d.log" % i), "wb") as out:
            out.write(f.read(4096))
PY
    rm -f "$WORK/cz-tree.log"
  fi
  CZ_TREE_SUMS=$(manifest "$dir" | sha256sum | cut -d' ' -f1)
}

# compress_tree_run OP MODE URL: one timed get -r or send -r of the tree;
# prints microseconds, or fails when the command fails or the copy differs.
compress_tree_run() {
  local op=$1 mode=$2 url=$3 out t0 t1
  out=$WORK/out/cz-tree-$mode
  rm -rf "$out" "$WORK/src/cz-up-$mode"
  settle
  t0=$(usecs)
  if [ "$op" = get ]; then
    "$WS" get -r -q --compress "$mode" --create-dirs "$url/cz-tree/" "$out" || return 1
    out=$out/cz-tree
  else
    "$WS" send -r -q --compress "$mode" "$WORK/src/cz-tree" "$url/cz-up-$mode/" || return 1
    out=$WORK/src/cz-up-$mode/cz-tree
  fi
  t1=$(usecs)
  [ "$(manifest "$out" | sha256sum | cut -d' ' -f1)" = "$CZ_TREE_SUMS" ] \
    || { log "compress: tree $op $mode: the copy differs"; return 1; }
  rm -rf "$WORK/out/cz-tree-$mode" "$WORK/src/cz-up-$mode"
  echo $((t1 - t0))
}

# The text tree through the rate-limited proxy, as compress_text.
compress_tree() {
  local proxy_pid url op mode us before after
  compress_tree_files
  start_rate_proxy
  for op in get send; do
    for mode in auto off on; do
      before=$(wire_total)
      us=$(compress_tree_run "$op" "$mode" "$url") || { kill "$proxy_pid"; return 1; }
      # The count file is written when each connection ends.
      sleep 1
      after=$(wire_total)
      log "compress: tree $op $mode: $((us / 1000)) ms, $((after - before)) bytes on the wire"
      record part=compress case=tree op="$op" mode="$mode" round=1 us="$us" wire="$((after - before))" \
        bytes="$((COMPRESS_TREE * 4096))" files="$COMPRESS_TREE" rate="$COMPRESS_RATE"
    done
  done
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
}

part_compress() {
  log "compress: random $COMPRESS_RANDOM on loopback, text $COMPRESS_TEXT at $COMPRESS_RATE B/s"
  compress_files
  start_wsresume
  if [[ " $COMPRESS_CASES " == *" random "* ]]; then
    compress_random || part_failed compress "random data on loopback"
  fi
  if [[ " $COMPRESS_CASES " == *" text "* ]]; then
    compress_text || part_failed compress "the text log through the rate-limited proxy"
  fi
  if [[ " $COMPRESS_CASES " == *" tree "* ]]; then
    compress_tree || part_failed compress "the text tree through the rate-limited proxy"
  fi
  stop_wsresume
}
