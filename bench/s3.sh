# The `s3` part of bench/run.sh (sourced by it; uses its helpers: record,
# settle, usecs, make_sized, sha_of_sized, part_failed, free_port, log).
#
# Object storage (issue 12): a file moved into and out of an S3-compatible
# bucket side by side in one run by
#   wsresume  `send FILE ws://…/KEY` and `get ws://…/KEY OUT` through
#             `wsresume serve --store s3://BUCKET/PREFIX` (one server for
#             the timed rounds)
#   aws       the AWS CLI (v1, PyPI `awscli`, in a virtual environment in
#             bench/.tools/awscli-venv): `aws s3 cp FILE s3://BUCKET/KEY` and
#             `aws s3 cp s3://BUCKET/KEY OUT`, its defaults (multipart above
#             8 MiB, 8 MiB parts, 10 requests at once)
#   aws1      the same with one request at a time (max_concurrent_requests
#             1) and, for uploads, 5 MiB parts: the shape of wsresume's
#             part uploads (one part in flight, 5 MiB), to tell what the
#             concurrency is worth against this server
# against one S3 server, moto (PyPI `moto[server]`, pinned, in
# target/s3-venv as scripts/test.sh makes it) on 127.0.0.1, a free port.
# moto is Python and keeps every object in memory: it bounds both tools, so
# each run also records the CPU time moto, the server and the client used.
#
# A BENCH_S3_SIZE (256M) file, BENCH_RUNS rounds (3 here, unless set; tools
# alternated: the
# order reverses every round): each round uploads under a new key by each tool,
# then downloads one object (put there by aws before the rounds) by each
# tool. The download's untimed warm-up is recorded too: wsresume's first get
# of the object is cold (the server hashes it as it reads it); later gets
# find the chaining values in the hash cache (kept in the bucket). Every
# uploaded object is fetched straight from moto with curl and its SHA-256
# checked; every downloaded file's SHA-256 too.
#
# Memory: for each size in BENCH_S3_MEM_SIZES ("64M 256M"), a freshly
# started `serve --store` takes one upload (`send`) and another one serves
# the object back (`get`); the server's peak RSS is VmHWM from
# /proc/PID/status just before it stops (an upload buffers one part).
#
#   BENCH_ONLY=s3 bench/run.sh
#   BENCH_ONLY=s3 BENCH_S3_SIZE=64M BENCH_RUNS=1 BENCH_S3_MEM_SIZES=16M bench/run.sh  # quick

S3_SIZE=${BENCH_S3_SIZE:-256M}
S3_RUNS=${BENCH_RUNS:-3} # not run.sh's RUNS, whose default (5) is the compare part's
S3_MEM_SIZES=${BENCH_S3_MEM_SIZES:-64M 256M}
S3_TIMEOUT=${BENCH_S3_TIMEOUT:-900}
S3_BUCKET=wsresume-bench
S3_PREFIX=pre
MOTO_VERSION=5.2.5
MOTO_VENV=$REPO/target/s3-venv
AWS_VENV=$TOOLS/awscli-venv
AWS=$AWS_VENV/bin/aws

# s3_install: moto and the AWS CLI, each in its virtual environment, unless
# there already.
s3_install() {
  if ! "$MOTO_VENV/bin/python" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null \
    || [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    log "installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION"
  fi
  if [ ! -x "$AWS" ]; then
    log "installing awscli into $AWS_VENV"
    python3 -m venv "$AWS_VENV"
    "$AWS_VENV/bin/pip" install -q awscli
  fi
}

# Start moto on a free port; sets MOTO_PORT, MOTO_PID, the AWS environment,
# and makes the bucket.
start_moto() {
  MOTO_PORT=$(free_port)
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
  MOTO_PID=$!; PIDS+=("$MOTO_PID")
  export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_CONFIG_FILE=$WORK/aws.cfg
  # The AWS CLI's configurations: its defaults (no ~/.aws/config), and one
  # request at a time (uploads in 5 MiB parts).
  : > "$WORK/aws.cfg"
  printf '[default]\ns3 =\n  max_concurrent_requests = 1\n  multipart_chunksize = 5MB\n' > "$WORK/aws1-up.cfg"
  printf '[default]\ns3 =\n  max_concurrent_requests = 1\n' > "$WORK/aws1-down.cfg"
  for _ in $(seq 300); do
    curl -sf -o /dev/null "$AWS_ENDPOINT_URL/" && break
    kill -0 "$MOTO_PID" 2>/dev/null || break
    sleep 0.1
  done
  curl -sSf -X PUT -o /dev/null "$AWS_ENDPOINT_URL/$S3_BUCKET" \
    || { log "s3: moto did not start: $(tail -n3 "$WORK/moto.log")"; return 1; }
}

stop_moto() { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }

# Start `wsresume serve --store` (no GNU time: its own PID is needed for
# /proc); sets S3_WS_URL and S3_SERVE_PID.
start_s3_serve() {
  rm -f "$WORK/s3-serve.out"
  "$WS" serve --store "s3://$S3_BUCKET/$S3_PREFIX" --listen 127.0.0.1:0 -q \
    > "$WORK/s3-serve.out" 2> "$WORK/s3-serve.err" &
  S3_SERVE_PID=$!; PIDS+=("$S3_SERVE_PID")
  for _ in $(seq 200); do grep -q listening "$WORK/s3-serve.out" 2>/dev/null && break; sleep 0.05; done
  grep -q listening "$WORK/s3-serve.out" \
    || { log "s3: serve --store did not start: $(head -c 300 "$WORK/s3-serve.err")"; return 1; }
  S3_WS_URL=$(sed 's/listening on //' "$WORK/s3-serve.out")
}

stop_s3_serve() { kill -INT "$S3_SERVE_PID" 2>/dev/null || true; wait "$S3_SERVE_PID" 2>/dev/null || true; }

# cpu_of PID: user + system CPU time so far, in clock ticks (0 if gone).
cpu_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
vm_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ticks_s() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'; }

# object_sha KEY: the object's SHA-256, fetched straight from moto.
object_sha() { curl -sSf "$AWS_ENDPOINT_URL/$S3_BUCKET/$1" | sha256sum | cut -d' ' -f1; }
delete_object() { curl -sSf -X DELETE -o /dev/null "$AWS_ENDPOINT_URL/$S3_BUCKET/$1" || true; }

# s3_time KIND OP TOOL RUN CHECK CMD...: run CMD (capped at S3_TIMEOUT),
# then CHECK (a command printing the output's SHA-256) must print the
# source's; record the wall time and the CPU time of moto, of the server
# and of the client.
s3_time() {
  local kind=$1 op=$2 tool=$3 run=$4 check=$5 rc=0 t0 us m0 m1 s0 s1 status=ok detail=""
  local rss=0 user=0 sys=0 got; shift 5
  settle
  m0=$(cpu_of "$MOTO_PID"); s0=$(cpu_of "$S3_SERVE_PID"); t0=$(usecs)
  timeout -k 5 "$S3_TIMEOUT" /usr/bin/time -f '%M %U %S' -o "$WORK/t.txt" "$@" \
    > /dev/null 2> "$WORK/s3-cmd.err" || rc=$?
  us=$(( $(usecs) - t0 )); m1=$(cpu_of "$MOTO_PID"); s1=$(cpu_of "$S3_SERVE_PID")
  read -r rss user sys < <(tail -n1 "$WORK/t.txt") || true
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=timeout
  elif [ "$rc" != 0 ]; then
    status=failed detail="exit $rc: $(grep -m1 . "$WORK/s3-cmd.err" | head -c 300)"
  else
    got=$($check) || got="(none: the check failed)"
    [ "$got" = "$S3_SHA" ] || status=wrong detail="SHA-256 $got, not the source's"
  fi
  [ "$status" = ok ] || { FAILED=1; log "s3: $op $tool: $status $detail"; }
  log "s3: $kind $op $tool run $run: $status $(awk -v u="$us" 'BEGIN {printf "%.2f s", u / 1e6}')"
  record part=s3 kind="$kind" op="$op" tool="$tool" run="$run" bytes="$S3_BYTES" \
    seconds="$(awk -v u="$us" 'BEGIN {printf "%.3f", u / 1e6}')" status="$status" detail="$detail" \
    moto_cpu_s="$(ticks_s $((m1 - m0)))" serve_cpu_s="$(ticks_s $((s1 - s0)))" \
    client_cpu_s="$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN {printf "%.2f", u + s}')" \
    client_rss_kb="${rss:-0}"
}

# s3_upload TOOL RUN: one timed upload of the file by TOOL under a new key,
# checked by fetching the object from moto, then deleted.
s3_upload() {
  local tool=$1 run=$2 key=$S3_PREFIX/up/$1-$2.bin
  case $tool in
    wsresume) s3_time run upload wsresume "$run" "object_sha $key" "$WS" send "$S3_FILE" "$S3_WS_URL/up/$tool-$run.bin" -q ;;
    *) s3_time run upload "$tool" "$run" "object_sha $key" env AWS_CONFIG_FILE="$(aws_config "$tool" up)" \
      "$AWS" s3 cp "$S3_FILE" "s3://$S3_BUCKET/$key" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors ;;
  esac
  delete_object "$key"
}

# s3_download KIND TOOL RUN: one timed download of the seeded object.
s3_download() {
  local kind=$1 tool=$2 run=$3 out=$WORK/out/s3-$2.bin
  rm -f "$out" "$out".wsresume-*
  case $tool in
    wsresume) s3_time "$kind" download wsresume "$run" "file_sha $out" "$WS" get "$S3_WS_URL/seed.bin" "$out" -q ;;
    *) s3_time "$kind" download "$tool" "$run" "file_sha $out" env AWS_CONFIG_FILE="$(aws_config "$tool" down)" \
      "$AWS" s3 cp "s3://$S3_BUCKET/$S3_PREFIX/seed.bin" "$out" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors ;;
  esac
  rm -f "$out" "$out".wsresume-*
}
# s3_aws_fixed RUN: the AWS CLI's fixed cost, Python's start and one
# request: `aws s3 ls` of the bucket's top level (one line, PRE pre/).
s3_aws_fixed() {
  local t0
  t0=$(usecs)
  if "$AWS" s3 ls "s3://$S3_BUCKET/" --endpoint-url "$AWS_ENDPOINT_URL" > /dev/null; then
    log "s3: fixed cost of aws (ls) run $1: $(( ($(usecs) - t0) / 1000 )) ms"
    record part=s3 kind=fixed tool=aws run="$1" seconds="$(( $(usecs) - t0 ))e-6"
  fi
}

# aws_config TOOL up|down: the AWS CLI's configuration file for TOOL.
aws_config() { if [ "$1" = aws1 ]; then echo "$WORK/aws1-$2.cfg"; else echo "$WORK/aws.cfg"; fi; }
file_sha() { sha256sum < "$1" | cut -d' ' -f1; }

# s3_memory SIZE: a fresh server takes one upload of a SIZE file, another
# serves it back; each one's VmHWM before it stops.
s3_memory() {
  local size=$1 file sha name idle rc out=$WORK/out/s3-mem.bin
  file=$(make_sized "$size"); sha=$(sha_of_sized "$size"); name=mem-$size.bin
  log "s3: memory, upload and download of $size"
  settle
  start_s3_serve || { part_failed s3 "serve --store did not start"; return; }
  idle=$(vm_hwm_kb "$S3_SERVE_PID"); rc=0
  "$WS" send "$file" "$S3_WS_URL/$name" -q || rc=$?
  record part=s3 kind=memory op=upload size="$size" bytes="$(stat -c %s "$file")" rc="$rc" \
    idle_hwm_kb="$idle" hwm_kb="$(vm_hwm_kb "$S3_SERVE_PID")"
  stop_s3_serve
  [ "$rc" = 0 ] && [ "$(object_sha "$S3_PREFIX/$name")" = "$sha" ] \
    || { part_failed s3 "memory: the upload of $size failed (exit $rc) or differs"; return; }
  start_s3_serve || { part_failed s3 "serve --store did not start"; return; }
  idle=$(vm_hwm_kb "$S3_SERVE_PID"); rm -f "$out" "$out".wsresume-*
  "$WS" get "$S3_WS_URL/$name" "$out" -q || rc=$?
  record part=s3 kind=memory op=download size="$size" bytes="$(stat -c %s "$file")" rc="$rc" \
    idle_hwm_kb="$idle" hwm_kb="$(vm_hwm_kb "$S3_SERVE_PID")"
  stop_s3_serve
  [ "$rc" = 0 ] && [ "$(file_sha "$out")" = "$sha" ] \
    || part_failed s3 "memory: the download of $size failed (exit $rc) or differs"
  rm -f "$out" "$out".wsresume-*
  delete_object "$S3_PREFIX/$name"
}

part_s3() {
  local run tool tools size
  S3_FILE=$(make_sized "$S3_SIZE"); S3_SHA=$(sha_of_sized "$S3_SIZE"); S3_BYTES=$(stat -c %s "$S3_FILE")
  start_moto || { part_failed s3 "moto did not start"; return; }
  record part=s3 kind=config size="$S3_SIZE" bytes="$S3_BYTES" runs="$S3_RUNS" \
    moto="$("$MOTO_VENV/bin/python" -c 'import moto; print(moto.__version__)')" \
    aws="$("$AWS" --version 2>&1 | cut -d' ' -f1,4)" wsresume="$("$WS" --version)" \
    load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
  log "s3: seeding the download's object (aws, untimed)"
  "$AWS" s3 cp "$S3_FILE" "s3://$S3_BUCKET/$S3_PREFIX/seed.bin" --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors \
    || { part_failed s3 "aws could not seed the bucket"; stop_moto; return; }
  start_s3_serve || { part_failed s3 "serve --store did not start"; stop_moto; return; }
  s3_download warmup wsresume 0 # cold: the server hashes the object
  s3_download warmup aws 0
  s3_download warmup aws1 0
  for run in $(seq "$S3_RUNS"); do
    if [ $((run % 2)) = 1 ]; then tools="wsresume aws aws1"; else tools="aws1 aws wsresume"; fi
    log "s3: round $run of $S3_RUNS ($tools)"
    for tool in $tools; do s3_upload "$tool" "$run"; done
    for tool in $tools; do s3_download run "$tool" "$run"; done
    s3_aws_fixed "$run"
  done
  record part=s3 kind=serve hwm_kb="$(vm_hwm_kb "$S3_SERVE_PID")"
  stop_s3_serve
  for size in $S3_MEM_SIZES; do s3_memory "$size"; done
  record part=s3 kind=load load_end="$(cut -d' ' -f1-3 /proc/loadavg)" \
    moto_rss_kb="$(vm_hwm_kb "$MOTO_PID")"
  stop_moto
}

# s3_report PARTS_JSONL: the part's Markdown tables.
s3_report() {
  python3 - "$1" <<'PY'
import json, statistics, sys
MIB = 1 << 20
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("part") == "s3"]
if not rows:
    sys.exit()
print("## Object storage: `serve --store s3://` against the AWS CLI, both through moto\n")
for r in rows:
    if "error" in r:
        print(f"**Failed:** {r['error']}\n")
cfg = next((r for r in rows if r.get("kind") == "config"), None)
if cfg is None:
    sys.exit()
runs = [r for r in rows if r.get("kind") == "run"]
ok = lambda rs: [r for r in rs if r["status"] == "ok"]
print(
    f"File: {cfg['bytes'] / MIB:.0f} MiB random data; medians of {cfg['runs']} rounds, tools "
    f"alternated. S3 server: moto {cfg['moto']} (Python) on 127.0.0.1; {cfg['aws']} with its "
    f"defaults (multipart above 8 MiB, 8 MiB parts, 10 requests at once), and aws1: the same "
    f"with one request at a time (max_concurrent_requests 1; uploads in 5 MiB parts); {cfg['wsresume']} "
    f"`send`/`get` through one `serve --store s3://BUCKET/PREFIX` (5 MiB parts, one at a time; "
    f"downloads by 8 MiB ranged GETs, one ahead). CPU: seconds of CPU time used during the "
    f"transfer (moto and the server from /proc/PID/stat, the client from GNU time); "
    f"moto busy = moto CPU / wall time.\n"
)
print("| op | tool | median s | MiB/s | runs (s) | moto CPU s | moto busy | serve CPU s | client CPU s | client peak RSS MiB |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
med = {}
for op in ("upload", "download"):
    for tool in ("wsresume", "aws", "aws1"):
        rs = ok(r for r in runs if r["op"] == op and r["tool"] == tool)
        bad = [r["status"] for r in runs if r["op"] == op and r["tool"] == tool and r["status"] != "ok"]
        if not rs:
            print(f"| {op} | {tool} | {', '.join(bad) or 'no run'} | | | | | | | |")
            continue
        m = lambda k: statistics.median(r[k] for r in rs)
        s = med[op, tool] = m("seconds")
        times = ", ".join(f"{r['seconds']:.2f}" for r in rs) + (f" ({', '.join(bad)})" if bad else "")
        serve = f"{m('serve_cpu_s'):.2f}" if tool == "wsresume" else "–"
        print(
            f"| {op} | {tool} | {s:.2f} | {cfg['bytes'] / MIB / s:.0f} | {times} | {m('moto_cpu_s'):.2f} | "
            f"{100 * m('moto_cpu_s') / s:.0f} % | {serve} | {m('client_cpu_s'):.2f} | "
            f"{max(r['client_rss_kb'] for r in rs) / 1024:.1f} |"
        )
for r in ok(r for r in rows if r.get("kind") == "warmup"):
    what = "the first get of the object (cold: the server hashes it)" if r["tool"] == "wsresume" else "untimed download"
    print(f"\nWarm-up (untimed round), {r['tool']}, {what}: {r['seconds']:.2f} s, moto CPU {r['moto_cpu_s']:.2f} s.", end="")
print("\n")
print("| ratio of median times | upload | download |")
print("|---|---:|---:|")
for other in ("aws", "aws1"):
    cells = [f"{med[op, 'wsresume'] / med[op, other]:.2f}" if (op, "wsresume") in med and (op, other) in med else "–"
             for op in ("upload", "download")]
    print(f"| wsresume / {other} | {cells[0]} | {cells[1]} |")
print()
fixed = [r["seconds"] for r in rows if r.get("kind") == "fixed"]
if fixed:
    print(f"The AWS CLI's fixed cost (Python's start and one request: `aws s3 ls s3://BUCKET/`), "
          f"median of {len(fixed)}: {statistics.median(fixed):.2f} s.\n")
mem = [r for r in rows if r.get("kind") == "memory"]
if mem:
    print("Server peak RSS (VmHWM) of a freshly started `serve --store` per transfer:\n")
    print("| op | file MiB | after start MiB | peak MiB |")
    print("|---|---:|---:|---:|")
    for r in mem:
        print(f"| {r['op']} | {r['bytes'] / MIB:.0f} | {r['idle_hwm_kb'] / 1024:.1f} | {r['hwm_kb'] / 1024:.1f} |")
    print()
serve = next((r for r in rows if r.get("kind") == "serve"), None)
load = next((r for r in rows if r.get("kind") == "load"), None)
if serve:
    print(f"The timed rounds' server, peak RSS over all its transfers: {serve['hwm_kb'] / 1024:.1f} MiB.", end=" ")
if load:
    print(f"moto's peak RSS: {load['moto_rss_kb'] / 1024:.0f} MiB.", end=" ")
    print(f"Load average (1, 5, 15 min) at the start: {cfg['load_start']}; at the end: {load['load_end']}.")
print()
PY
}
