#!/usr/bin/env bash
# The test command (README "Development"; .ci/run calls it): installs what the
# tests need on a fresh Debian-like machine, then runs every test.
#   tmux  - tests/terminal.rs drives a real terminal
#   curl  - tests/serve_first_contact.rs, tests/http_get.rs: a plain HTTP client
#   wget  - tests/http_get.rs: `wget -c` resumes a download
#   nginx - tests/s3_service.rs puts a load balancer in front of two servers
#   tinyproxy, microsocks - tests/proxies.rs: an HTTP and a SOCKS5 proxy
#   caddy - tests/reverse_proxy.rs runs README's Caddy configuration (nginx's too)
#   chromium, chromium-driver, nodejs, npm - tests/browser.rs: the index
#           page's uploads in headless Chromium, driven by playwright-core
#           (npm, pinned, no browser download) installed into
#           target/browser-node (kept between runs) and passed on as
#           WSRESUME_TEST_BROWSER_NODE
#   moto  - tests/s3_*.rs: an S3-compatible server (PyPI `moto[server]`,
#           pinned), in a virtual environment in target/s3-venv (kept between
#           runs); its `moto_server` is passed on as WSRESUME_TEST_MOTO
# Under CI=true a test whose part is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=target/s3-venv
PLAYWRIGHT_VERSION=1.65.2
BROWSER_NODE=target/browser-node
PATH=$PATH:/usr/sbin:/sbin # nginx

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: $*"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing: $* (install them; their tests skip, and fail under CI=true)" >&2
    return 1
  fi
}

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v wget >/dev/null 2>&1 || need+=(wget)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
command -v microsocks >/dev/null 2>&1 || need+=(microsocks)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  apt_install "${need[@]}" || true
fi

# moto[server]==MOTO_VERSION in VENV, unless that is already there.
moto_ready() {
  "$VENV/bin/python" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null &&
    [ -x "$VENV/bin/moto_server" ]
}
make_venv() {
  rm -rf "$VENV"
  python3 -m venv "$VENV" >/dev/null 2>&1 && return 0
  # Debian's python3 makes virtual environments only with python3-venv.
  apt_install python3-venv && rm -rf "$VENV" && python3 -m venv "$VENV"
}
install_moto() {
  echo "installing: moto[server]==$MOTO_VERSION (PyPI) into $VENV"
  if make_venv &&
    "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"; then
    return 0
  fi
  rm -rf "$VENV"
  echo "could not install moto: tests/s3_*.rs skip (and fail under CI=true)" >&2
}
if [ -z "${WSRESUME_TEST_MOTO:-}" ]; then
  moto_ready || install_moto
  export WSRESUME_TEST_MOTO="$PWD/$VENV/bin/moto_server"
fi

# playwright-core==PLAYWRIGHT_VERSION in BROWSER_NODE, unless already there.
# It drives Debian's /usr/bin/chromium; it downloads no browser.
playwright_ready() {
  node -e "process.exit(require('./$BROWSER_NODE/node_modules/playwright-core/package.json').version === '$PLAYWRIGHT_VERSION' ? 0 : 1)" 2>/dev/null
}
install_playwright() {
  echo "installing: playwright-core@$PLAYWRIGHT_VERSION (npm) into $BROWSER_NODE"
  mkdir -p "$BROWSER_NODE"
  if PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$BROWSER_NODE" --no-audit --no-fund \
    --ignore-scripts --save-exact "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null; then
    return 0
  fi
  echo "could not install playwright-core: tests/browser.rs skips (and fails under CI=true)" >&2
}
if [ -z "${WSRESUME_TEST_BROWSER_NODE:-}" ] && command -v npm >/dev/null 2>&1; then
  playwright_ready || install_playwright
  export WSRESUME_TEST_BROWSER_NODE="$PWD/$BROWSER_NODE"
fi

cargo test "$@"
