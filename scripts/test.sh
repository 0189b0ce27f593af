#!/usr/bin/env bash
# The test command (README "Development"; .ci/run calls it): installs what the
# tests need on a fresh Debian-like machine, then runs every test.
#   tmux  - tests/terminal.rs drives a real terminal
#   curl  - tests/serve_first_contact.rs asks the server as a plain HTTP client
# Under CI=true a test whose part is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} (install them; their tests skip, and fail under CI=true)" >&2
  fi
fi
cargo test "$@"
