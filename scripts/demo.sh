#!/usr/bin/env bash
# End-to-end demo: build, serve a temporary directory on a free local port,
# upload a random 20 MiB file, download it again, and check that all three
# copies have the same SHA-256.
set -euo pipefail

cd "$(dirname "$0")/.."
cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/wsresume"

work=$(mktemp -d "${TMPDIR:-/tmp}/wsresume-demo.XXXXXX")
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root" "$work/downloads"
head -c $((20 * 1024 * 1024)) /dev/urandom > "$work/demo.bin"

"$bin" serve "$work/root" --listen 127.0.0.1:0 > "$work/server.out" 2> "$work/server.log" &
server_pid=$!

# Wait (up to 10 s) for "listening on ws://HOST:PORT".
url=""
for _ in $(seq 100); do
    url=$(grep -o -m1 'ws://[^[:space:]]*' "$work/server.out" || true)
    [[ -n "$url" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "demo: the server exited early:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "demo: the server did not report its address within 10 s" >&2
    exit 1
fi
echo "server: $url (root $work/root)"

"$bin" send "$work/demo.bin" "$url/demo.bin"
"$bin" get "$url/demo.bin" "$work/downloads/"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
src=$(sha_of "$work/demo.bin")
up=$(sha_of "$work/root/demo.bin")
down=$(sha_of "$work/downloads/demo.bin")
echo "source:     $src"
echo "uploaded:   $up"
echo "downloaded: $down"
if [[ "$src" == "$up" && "$src" == "$down" ]]; then
    echo "demo: OK, all three copies match"
else
    echo "demo: FAILED, the copies differ" >&2
    exit 1
fi
