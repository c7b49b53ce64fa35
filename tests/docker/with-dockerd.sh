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
# dockerd also listens on tcp://127.0.0.1:<free port> with --tlsverify, on
# certificates made here with certtool (throw-away CA; server cert for
# 127.0.0.1/localhost; client cert with clientAuth). CMD gets
#   FCBD_TLS_HOST=tcp://127.0.0.1:PORT  FCBD_TLS_CERT_PATH=DIR (ca.pem,
#   cert.pem, key.pem as the docker CLI expects),
#   FCBD_TLS_WRONG_CA_CERT_PATH=DIR (a good client cert, but the ca.pem of
#   another CA: the engine's certificate does not verify) and
#   FCBD_TLS_UNTRUSTED_CLIENT_CERT_PATH=DIR (the right ca.pem, a client cert
#   the engine does not trust).
# Without certtool the TLS listener is left out and FCBD_TLS_* are not set.
# Exit status: CMD's, or 1 if containers or lease volumes were left behind, or 77 (skip) when
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
engine=with-dockerd
. "$here/engine-lib.sh"
engine_require_busybox

engine_take_run_lock

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

# Throw-away PKI for the TLS listener (ECDSA P-256: fast to make).
tls=$root/tls
tls_host=""
certtool_run() { timeout 30 certtool "$@" --no-text >/dev/null 2>>"$tls/certtool.log"; }
tls_key() { certtool_run --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1"; }
tls_ca() { # dir cn: self-signed CA in dir/ca.pem, its key in dir/ca-key.pem
  printf 'cn = "%s"\norganization = "fakecloud-test"\nca\ncert_signing_key\nexpiration_days = 30\n' \
    "$2" >"$1/ca.tmpl"
  tls_key "$1/ca-key.pem" &&
    certtool_run --generate-self-signed --load-privkey "$1/ca-key.pem" --template "$1/ca.tmpl" \
      --outfile "$1/ca.pem"
}
tls_cert() { # ca-dir out-cert out-key template-lines: a cert signed by ca-dir's CA
  printf '%s\nexpiration_days = 30\n' "$4" >"$2.tmpl"
  tls_key "$3" &&
    certtool_run --generate-certificate --load-privkey "$3" --load-ca-certificate "$1/ca.pem" \
      --load-ca-privkey "$1/ca-key.pem" --template "$2.tmpl" --outfile "$2" &&
    rm -f "$2.tmpl"
}
make_tls() {
  local client='cn = "fakecloud-test-client"
tls_www_client
signing_key'
  mkdir -p "$tls/pki" "$tls/other-pki" "$tls/client" "$tls/wrong-ca" "$tls/untrusted-client" &&
    chmod 700 "$tls" &&
    tls_ca "$tls/pki" fakecloud-test-ca &&
    tls_ca "$tls/other-pki" fakecloud-other-ca &&
    tls_cert "$tls/pki" "$tls/pki/server.pem" "$tls/pki/server-key.pem" 'cn = "fakecloud-test-dockerd"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
signing_key
encryption_key' &&
    tls_cert "$tls/pki" "$tls/client/cert.pem" "$tls/client/key.pem" "$client" &&
    cp "$tls/pki/ca.pem" "$tls/client/ca.pem" &&
    cp "$tls/client/cert.pem" "$tls/client/key.pem" "$tls/wrong-ca/" &&
    cp "$tls/other-pki/ca.pem" "$tls/wrong-ca/ca.pem" &&
    tls_cert "$tls/other-pki" "$tls/untrusted-client/cert.pem" "$tls/untrusted-client/key.pem" "$client" &&
    cp "$tls/pki/ca.pem" "$tls/untrusted-client/ca.pem"
}
tls_ok=""
if command -v certtool >/dev/null && command -v python3 >/dev/null; then
  mkdir -p "$tls"
  if make_tls; then tls_ok=1; else
    echo "with-dockerd: certtool failed, no TLS listener: $(tail -3 "$tls/certtool.log")" >&2
  fi
else
  echo "with-dockerd: certtool (gnutls-bin) or python3 missing: no TLS listener" >&2
fi

# A free loopback port: bind port 0, release it, hand it to dockerd. Another
# process may take it in between: dockerd then fails to bind and exits, and
# we try again with a new port (bounded).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tls_ping() { # the TLS listener answers /_ping to our client cert
  curl -sf --max-time 2 --cacert "$tls/client/ca.pem" --cert "$tls/client/cert.pem" \
    --key "$tls/client/key.pem" "https://127.0.0.1:$1/_ping" >/dev/null 2>&1
}
ready=""
port=""
for attempt in 1 2 3 4 5; do
  dockerd_args=(--data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/dockerd.pid"
    -H "unix://$sock" --bridge "$bridge" --iptables=false --ip-masq=false --ip6tables=false
    --userland-proxy=true --log-level=warn)
  port=""
  if [ -n "$tls_ok" ]; then
    port=$(free_port) || { echo "with-dockerd: cannot pick a free port: no TLS listener" >&2; port=""; tls_ok=""; }
  fi
  if [ -n "$port" ]; then
    dockerd_args+=(-H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$tls/pki/ca.pem"
      --tlscert "$tls/pki/server.pem" --tlskey "$tls/pki/server-key.pem")
  fi
  dockerd "${dockerd_args[@]}" >"$root/dockerd.log" 2>&1 8>&- 9>&- &
  dockerd_pid=$!
  unix_ok=""
  for _ in $(seq 200); do
    [ -n "$unix_ok" ] || ! curl -sf --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 ||
      unix_ok=1
    if [ -n "$unix_ok" ] && { [ -z "$port" ] || tls_ping "$port"; }; then ready=1; break; fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ready" ] && break
  if kill -0 "$dockerd_pid" 2>/dev/null; then
    echo "with-dockerd: dockerd did not answer in 20 s; stopping it" >&2
    kill -TERM "$dockerd_pid"
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  wait "$dockerd_pid" 2>/dev/null
  dockerd_pid=""
  # Only a lost race for the port is worth another try.
  grep -q "address already in use" "$root/dockerd.log" || break
  echo "with-dockerd: port $port was taken before dockerd bound it (attempt $attempt); another" >&2
done
if [ -z "$ready" ]; then
  echo "with-dockerd: dockerd did not start; its log:" >&2
  tail -20 "$root/dockerd.log" >&2
  # The engine runs here but its TLS listener does not answer our client: a bug, not a skip.
  [ -n "$unix_ok" ] && { echo "with-dockerd: FAIL: no answer on https://127.0.0.1:$port" >&2; exit 1; }
  skip "dockerd cannot start on this machine"
fi
[ -n "$port" ] && tls_host="tcp://127.0.0.1:$port"

api() { curl -sS --max-time 60 --unix-socket "$sock" "$@"; }

t0=$(date +%s%N)
engine_import_test_images || exit 1
echo "with-dockerd: dockerd ready on $sock${tls_host:+ and $tls_host (TLS)} (bridge $bridge), images in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2

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

if [ -n "$tls_host" ]; then
  export FCBD_TLS_HOST="$tls_host" FCBD_TLS_CERT_PATH="$tls/client"
  export FCBD_TLS_WRONG_CA_CERT_PATH="$tls/wrong-ca" FCBD_TLS_UNTRUSTED_CLIENT_CERT_PATH="$tls/untrusted-client"
fi
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
# Nor lease volumes (docs/leases.md: close deletes them, reap_stale those of dead hosts).
leases=$(api 'http://d/volumes?filters=%7B%22label%22%3A%5B%22fakecloud-lease%22%5D%7D' |
         grep -o '"Name":"fakecloud-lease-[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')
if [ -n "$leases" ]; then
  echo "with-dockerd: FAIL: lease volumes left behind: $leases" >&2
  [ "$status" = 0 ] && status=1
fi
exit "$status"
