#!/usr/bin/env bash
# with-dockerd.sh CMD...: run CMD against a private, throw-away dockerd.
#
# Starts dockerd with its own data root, exec root, pidfile, unix socket and
# bridge (a fresh 198.18.X.1/24 on a bridge named fcbdXXXX, RFC 2544 benchmark
# space that real networks do not use; no iptables, so
# containers reach only the host and each other, and published ports go
# through docker-proxy on 127.0.0.1), imports the test runtime images
# (busybox-static + the RIE stand-in in tests/docker/image), runs CMD with
# DOCKER_HOST pointing at it, then checks that CMD left no container behind,
# stops dockerd and removes everything, also when CMD fails or is killed.
# CMD also gets FCBD_RESTART: the path of an executable `restart-dockerd.sh
# [restart|stop|start]` that stops this dockerd (SIGTERM, bounded wait) and/or
# starts it again with the very same arguments on the same socket (waits for
# /_ping), for tests of an engine restarted mid-run. A dockerd that CMD left
# stopped is started again before the leftover check (and the run fails).
# Exit status: CMD's, or 1 if containers were left behind, or 77 (skip) when
# dockerd cannot run here (not root, no dockerd binary, no busybox-static).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "with-dockerd: SKIP: $*" >&2; exit 77; }
[ "$#" -ge 1 ] || { echo "usage: with-dockerd.sh CMD..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || skip "dockerd needs root (uid $(id -u))"
command -v dockerd >/dev/null || skip "dockerd not installed (apt-get install docker.io)"
command -v curl >/dev/null || skip "curl not installed"
command -v ip >/dev/null || skip "iproute2 not installed"
busybox=/bin/busybox
[ -x "$busybox" ] || skip "no $busybox (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then skip "$busybox is not static (install busybox-static)"; fi

# One private dockerd at a time on this machine: concurrent dockerds hand out
# the same ephemeral host ports (each keeps its own bookkeeping), so runs from
# several build dirs would disturb each other. Wait for the others (bounded).
exec 8>/tmp/fcbd.run.lock
if ! flock -w 200 8; then
  echo "with-dockerd: another private dockerd run held /tmp/fcbd.run.lock for 200 s; running anyway" >&2
fi

root=$(mktemp -d /tmp/fcbd.XXXXXX)
sock=$root/docker.sock
bridge=""
dockerd_pid=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # The dockerd running now: ours, or the one restart-dockerd.sh started.
  local pid=$dockerd_pid
  [ -n "$pid" ] && [ -s "$root/dockerd.restarted.pid" ] && pid=$(cat "$root/dockerd.restarted.pid")
  if [ -n "$pid" ] && alive "$pid"; then
    # Remove whatever is left (the check below already reported it), then stop.
    for id in $(curl -s --max-time 10 --unix-socket "$sock" "http://d/containers/json?all=1" |
                grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      curl -s --max-time 20 --unix-socket "$sock" -X DELETE "http://d/containers/$id?force=1&v=1" >/dev/null
    done
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  [ -n "$dockerd_pid" ] && wait "$dockerd_pid" 2>/dev/null
  # Mounts dockerd may have left (overlay, shm, netns) under our root.
  grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null
  rm -rf "$root"
  exit "$status"
}
# A process that exists and is not a zombie (a restarted dockerd is not our child).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pick a free 198.18.X.0/24 and a bridge name under a lock (parallel runs).
exec 9>/tmp/fcbd.lock
flock -w 30 9 || skip "cannot lock /tmp/fcbd.lock"
for x in $(seq 200 250); do
  if ! ip -4 addr show | grep -q "inet 198\.18\.$x\." && ! ip -4 route show | grep -q "^198\.18\.$x\."; then
    bridge=fcbd$(printf '%04x' $(( ($$ + x) % 65536 )))
    ip link add "$bridge" type bridge 2>/dev/null || { bridge=""; continue; }
    ip addr add "198.18.$x.1/24" dev "$bridge" && ip link set "$bridge" up && break
    ip link del "$bridge"; bridge=""
  fi
done
flock -u 9
[ -n "$bridge" ] || skip "no free 198.18.200-250.0/24 subnet for a private bridge"

dockerd_args=(--data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/dockerd.pid"
  -H "unix://$sock" --bridge "$bridge" --iptables=false --ip-masq=false --ip6tables=false
  --userland-proxy=true --log-level=warn)
dockerd "${dockerd_args[@]}" >"$root/dockerd.log" 2>&1 8>&- 9>&- &
dockerd_pid=$!
ready=""
for _ in $(seq 200); do
  if curl -sf --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$dockerd_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "with-dockerd: dockerd did not start; its log:" >&2
  tail -20 "$root/dockerd.log" >&2
  dockerd_pid=""
  skip "dockerd cannot start on this machine"
fi

api() { curl -sS --max-time 60 --unix-socket "$sock" "$@"; }

# Test runtime image: busybox-static + RIE stand-in (+ a handler for Image functions).
rootfs=$root/rootfs
mkdir -p "$rootfs/bin" "$rootfs/rie" "$rootfs/var/task" "$rootfs/var/runtime" "$rootfs/opt" "$rootfs/tmp" "$rootfs/etc"
cp "$busybox" "$rootfs/bin/busybox"
"$busybox" --list | while read -r applet; do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
cp "$here/image/rie-start.sh" "$rootfs/rie/start.sh"
cp "$here/image/rie-conn.sh" "$rootfs/rie/conn.sh"
cp "$here/image/image-handler.sh" "$rootfs/var/task/image.sh"
chmod 755 "$rootfs/rie/start.sh" "$rootfs/rie/conn.sh"
echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"

import() { # repo tag changes...
  local repo=$1 tag=$2; shift 2
  local q="fromSrc=-&repo=$(printf %s "$repo" | sed 's|/|%2F|g')&tag=$tag"
  for c in "$@"; do q="$q&changes=$(printf %s "$c" | sed 's/ /%20/g; s/"/%22/g; s/\[/%5B/g; s/\]/%5D/g; s/,/%2C/g; s/>/%3E/g; s/&/%26/g; s/;/%3B/g')"; done
  tar -C "$rootfs" -c . | api -X POST -H 'Content-Type: application/x-tar' --data-binary @- \
    "http://d/images/create?$q" | grep -q '"error' && { echo "with-dockerd: import $repo:$tag failed" >&2; return 1; }
  return 0
}
tag() { # source repo tag
  local code
  code=$(api -o /dev/null -w '%{http_code}' -X POST "http://d/images/$1/tag?repo=$(printf %s "$2" | sed 's|/|%2F|g')&tag=$3")
  [ "$code" = 201 ] || { echo "with-dockerd: tag $1 -> $2:$3 failed ($code)" >&2; return 1; }
}
t0=$(date +%s%N)
import public.ecr.aws/lambda/python 3.12 'ENTRYPOINT ["/rie/start.sh"]' 'EXPOSE 8080' || exit 1
tag public.ecr.aws/lambda/python:3.12 public.ecr.aws/lambda/provided al2023 || exit 1
tag public.ecr.aws/lambda/python:3.12 localhost:5000/fakecloud-image-fn 1 || exit 1
tag public.ecr.aws/lambda/python:3.12 fakecloud-test/image-fn 1 || exit 1
import fakecloud-test/crash 1 'ENTRYPOINT ["/bin/sh", "-c", "echo starting; echo fatal: runtime crashed on purpose >&2; exit 3"]' || exit 1
echo "with-dockerd: dockerd ready on $sock (bridge $bridge), images in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2

# restart-dockerd.sh [restart|stop|start] for CMD (see the header). The values
# are baked in with %q; dockerd's own pidfile says which process to stop.
{
  echo '#!/usr/bin/env bash'
  echo '# Generated by tests/docker/with-dockerd.sh: stop and/or start its private dockerd.'
  echo 'set -uo pipefail'
  printf 'root=%q\nsock=%q\n' "$root" "$sock"
  printf 'args=('; printf ' %q' "${dockerd_args[@]}"; printf ' )\n'
  cat <<'SCRIPT'
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }
stop() {
  local pid
  pid=$(cat "$root/dockerd.pid" 2>/dev/null)
  if [ -z "$pid" ] || ! alive "$pid"; then echo "restart-dockerd: dockerd is not running" >&2; return 0; fi
  t0=$(date +%s%N)
  kill -TERM "$pid"
  # dockerd stops its containers first (SIGTERM, SIGKILL after their 10 s stop timeout).
  for _ in $(seq 400); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "restart-dockerd: dockerd $pid still running 40 s after SIGTERM: SIGKILL" >&2
    kill -KILL "$pid"
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  fi
  echo "restart-dockerd: dockerd $pid stopped in $(ms) ms" >&2
}
start() {
  if curl -sf --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    echo "restart-dockerd: dockerd already answers on $sock" >&2; return 0
  fi
  t0=$(date +%s%N)
  setsid dockerd "${args[@]}" >>"$root/dockerd.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$root/dockerd.restarted.pid"
  for _ in $(seq 300); do
    if curl -sf --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
      echo "restart-dockerd: dockerd $pid answers on $sock after $(ms) ms" >&2; return 0
    fi
    alive "$pid" || break
    sleep 0.1
  done
  echo "restart-dockerd: dockerd did not come back; its log:" >&2
  tail -20 "$root/dockerd.log" >&2
  return 1
}
case "${1:-restart}" in
  stop) stop ;;
  start) start ;;
  restart) stop && start ;;
  *) echo "usage: restart-dockerd.sh [restart|stop|start]" >&2; exit 2 ;;
esac
SCRIPT
} >"$root/restart-dockerd.sh"
chmod 755 "$root/restart-dockerd.sh"

DOCKER_HOST="unix://$sock" FCB_TEST_DOCKERD_ROOT="$root" FCBD_RESTART="$root/restart-dockerd.sh" \
  "$@" 8>&- 9>&-
status=$?

# CMD may have stopped dockerd (FCBD_RESTART stop) and failed before starting it again.
if ! curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  echo "with-dockerd: FAIL: dockerd is not answering after CMD; starting it again" >&2
  "$root/restart-dockerd.sh" start
  [ "$status" = 0 ] && status=1
fi

# Nothing may be left behind by CMD.
left=$(api "http://d/containers/json?all=1" | grep -o '"Names":\["[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')
if [ -n "$left" ]; then
  echo "with-dockerd: FAIL: containers left behind: $left" >&2
  [ "$status" = 0 ] && status=1
fi
exit "$status"
