#!/usr/bin/env bash
# Regenerate the committed shell completions (and, through gen-man.sh, the
# man pages) from the CLI definition.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/wsresume
"$bin" completions bash > completions/wsresume.bash
"$bin" completions zsh > completions/_wsresume
"$bin" completions fish > completions/wsresume.fish
"$bin" completions powershell > completions/_wsresume.ps1
"$bin" completions elvish > completions/wsresume.elv
echo "completions/ regenerated"
"$(dirname "$0")/gen-man.sh"
