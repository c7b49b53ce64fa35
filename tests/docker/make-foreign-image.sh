#!/usr/bin/env bash
# make-foreign-image.sh SOCKET SOURCE TARGET ARCH: load a copy of image SOURCE
# as TARGET whose config says architecture ARCH (Go name), through the Engine
# API on the unix socket SOCKET. The layers stay SOURCE's, so on this engine
# the copy still runs: what it lets a test check is what the config says (the
# platform a backend selects and refuses), not emulation. (dockerd 20.10's
# import ignores a platform's architecture, hence save, edit, load.)
set -euo pipefail
[ "$#" = 4 ] || { echo "usage: make-foreign-image.sh SOCKET SOURCE TARGET ARCH" >&2; exit 2; }
sock=$1 source=$2 target=$3 arch=$4
dir=$(mktemp -d /tmp/fcb-foreign.XXXXXX)
trap 'rm -rf "$dir"' EXIT
src=$(printf %s "$source" | sed 's|/|%2F|g')
curl -sSf --max-time 60 --unix-socket "$sock" "http://d/images/$src/get" | tar -C "$dir" -x
python3 - "$dir" "$target" "$arch" <<'PY'
import hashlib, json, os, sys
d, target, arch = sys.argv[1:]
with open(os.path.join(d, "manifest.json")) as f:
    manifest = json.load(f)
entry = manifest[0]
with open(os.path.join(d, entry["Config"])) as f:
    config = json.load(f)
config["architecture"] = arch
data = json.dumps(config, separators=(",", ":")).encode()
name = hashlib.sha256(data).hexdigest() + ".json"
os.remove(os.path.join(d, entry["Config"]))
with open(os.path.join(d, name), "wb") as f:
    f.write(data)
entry["Config"] = name
entry["RepoTags"] = [target]
with open(os.path.join(d, "manifest.json"), "w") as f:
    json.dump(manifest, f)
PY
rm -f "$dir/repositories"
out=$(tar -C "$dir" -c . | curl -sS --max-time 60 --unix-socket "$sock" -X POST \
  -H 'Content-Type: application/x-tar' --data-binary @- "http://d/images/load?quiet=1")
case "$out" in
  *rror*) echo "make-foreign-image: load failed: $out" >&2; exit 1 ;;
esac
