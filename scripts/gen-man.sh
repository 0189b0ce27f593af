#!/usr/bin/env bash
# Regenerate the committed man pages (man/) from the CLI definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/wsresume
mkdir -p man
"$bin" man > man/wsresume.1
for command in serve send get ls config token completions; do
    "$bin" man "$command" > "man/wsresume-$command.1"
done
echo "man/ regenerated"
