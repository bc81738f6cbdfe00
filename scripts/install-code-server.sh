#!/usr/bin/env bash
# Installs code-server (real VS Code: workbench + Node extension host) into a cache folder outside
# the project's dependency tree, offline apart from the npm registry. Idempotent: does nothing when
# the cache already holds a working install. Used by test/vscode.test.ts and .ci/run.
#
# Usage: scripts/install-code-server.sh [DIR]
#   DIR defaults to $FASTAPI_LENS_CODE_SERVER_DIR, else <project>/.cache/code-server.
# Needs Debian: build-essential python3 pkg-config libkrb5-dev ripgrep (chromium to run the tests).
set -euo pipefail

VERSION=4.100.3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${FASTAPI_LENS_CODE_SERVER_DIR:-$root/.cache/code-server}}"
cs="$dir/node_modules/code-server"
marker="$dir/.installed-$VERSION"

if [ -f "$marker" ] && [ -f "$cs/out/node/entry.js" ]; then
  echo "code-server $VERSION already installed in $dir"
  exit 0
fi
for tool in rg make g++ python3 pkg-config; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "install-code-server: '$tool' is missing (Debian: ripgrep build-essential python3 pkg-config libkrb5-dev)" >&2
    exit 1
  }
done

started=$(date +%s)
echo "install-code-server: installing code-server $VERSION into $dir (about 2 minutes)"
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
# A package.json of its own, or npm would walk up and install into the project.
printf '{ "name": "code-server-cache", "private": true }\n' >package.json

export npm_config_yes=true npm_config_unsafe_perm=true npm_config_audit=false npm_config_fund=false
export npm_config_update_notifier=false npm_config_loglevel=error
npm install --ignore-scripts --no-save "code-server@$VERSION"
npm rebuild argon2

cd "$cs/lib/vscode"
npm install --omit=dev --ignore-scripts
# @vscode/ripgrep downloads its binary in a postinstall script: use Debian's instead.
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild
rm -rf node_modules.asar
ln -s node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
cd extensions
npm install --omit=dev

touch "$marker"
echo "install-code-server: done in $(($(date +%s) - started)) s"
