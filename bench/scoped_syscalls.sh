#!/bin/bash
# Syscalls (strace -c) the server makes for `get -r` of 1,000 small files with a token limited to /ci/.
set -e
BIN=${BIN:-/work/main/target/debug/wsresume}
W=$(mktemp -d); mkdir -p $W/root/ci/a/b $W/out
for i in $(seq 1000); do head -c 2000 /dev/urandom > $W/root/ci/a/b/f$i.bin; done
SHA=$(printf tok-ci | sha256sum | cut -d' ' -f1)
printf '[[token]]\nname = "ci"\nsha256 = "%s"\nrights = ["read","list","write"]\npaths = ["/ci/"]\n' $SHA > $W/tokens.toml
PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
strace -f -c -o $W/strace.txt $BIN serve $W/root --listen 127.0.0.1:$PORT --tokens $W/tokens.toml -q --cache-dir $W/cache 2> $W/serve.log &
SP=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
URL=ws://127.0.0.1:$PORT
$BIN get -r "$URL/ci/a/" $W/out/ --token tok-ci -q
kill -INT $(pgrep -P $SP wsresume || echo $SP) 2>/dev/null || true; wait $SP 2>/dev/null || true
ls $W/out/a/b | wc -l
grep -E "readlink|newfstatat|statx|openat|total" $W/strace.txt
rm -rf $W
