#!/usr/bin/env bash
# in-netns.sh LOW HIGH CMD...: run CMD in a fresh network namespace whose only
# interface is loopback and whose ephemeral port range is LOW..HIGH.
#
# A narrow range makes an engine's ephemeral-port choices collide on purpose
# (e.g. Podman picks a published port at create by binding port 0 and closing
# it; conmon binds it only at start): what happens by chance on a busy machine
# happens every run here. The host's own sysctl is never touched.
# Exit status: CMD's, or 77 (skip) when a namespace cannot be made here.
set -uo pipefail
[ "$#" -ge 3 ] || { echo "usage: in-netns.sh LOW HIGH CMD..." >&2; exit 2; }
low=$1 high=$2
shift 2
[ "$(id -u)" = 0 ] || { echo "in-netns: SKIP: needs root (uid $(id -u))" >&2; exit 77; }
command -v unshare >/dev/null || { echo "in-netns: SKIP: no unshare" >&2; exit 77; }
unshare --net true 2>/dev/null || { echo "in-netns: SKIP: cannot unshare the network namespace" >&2; exit 77; }
exec unshare --net -- bash -c '
  ip link set lo up || exit 77
  sysctl -qw net.ipv4.ip_local_port_range="$0 $1" || exit 77
  shift  # $0 is LOW, $1 HIGH: drop HIGH
  exec "$@"' "$low" "$high" "$@"
