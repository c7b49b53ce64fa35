#!/usr/bin/env bash
# with-podman.sh CMD...: run CMD against a private, throw-away Podman API
# service (Podman's Docker-compatible Engine API), like with-dockerd.sh does
# with dockerd.
#
# Starts `podman system service --time=0 unix://$root/podman.sock` as root with
# everything private under a fresh /tmp/fcbp.XXXXXX: storage (graph root, run
# root, storage.conf via CONTAINERS_STORAGE_CONF), engine state (tmp dir, file
# locks instead of the shared /dev/shm lock segment, events in a file, cgroupfs,
# no systemd: containers.conf via CONTAINERS_CONF), a registries.conf that
# blocks the public registries (CONTAINERS_REGISTRIES_CONF: nothing is ever
# pulled from outside; the test images are local) and one netavark bridge
# network, the default one, on a fresh 198.18.X.0/24 (RFC 2544 benchmark space,
# X in 100..150, so never the subnets with-dockerd.sh takes) on a bridge named
# fcbpXXXX, without DNS. Published ports go through netavark's DNAT rules on
# 127.0.0.1 (route_localnet on our bridge); conmon holds the host port.
# Imports the test runtime images (busybox-static + the RIE stand-in in
# tests/docker/image) through the compat API, runs CMD with DOCKER_HOST
# pointing at the service, then checks that CMD left no container behind, and
# removes everything: containers, the service, conmon processes, mounts, the
# bridge, netavark's rules for our subnet and the directory, also when CMD
# fails or is killed.
# Exit status: CMD's, or 1 if containers were left behind, or 77 (skip) when
# Podman cannot run here (not root, no podman/netavark, no busybox-static, the
# service does not start or cannot run a container with a published port).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "with-podman: SKIP: $*" >&2; exit 77; }
[ "$#" -ge 1 ] || { echo "usage: with-podman.sh CMD..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || skip "rootful podman needs root (uid $(id -u))"
command -v podman >/dev/null || skip "podman not installed (apt-get install podman)"
command -v curl >/dev/null || skip "curl not installed"
command -v ip >/dev/null || skip "iproute2 not installed"
netavark=""
for p in /usr/lib/podman/netavark /usr/libexec/podman/netavark /usr/local/libexec/podman/netavark; do
  [ -x "$p" ] && { netavark=$p; break; }
done
[ -n "$netavark" ] || skip "netavark not installed (apt-get install netavark)"
command -v iptables >/dev/null || skip "iptables not installed (netavark needs it)"
runtime=""
for r in crun runc; do command -v "$r" >/dev/null && { runtime=$r; break; }; done
[ -n "$runtime" ] || skip "no OCI runtime (crun or runc)"
busybox=/bin/busybox
engine=with-podman
. "$here/engine-lib.sh"
engine_require_busybox

engine_take_run_lock

root=$(mktemp -d /tmp/fcbp.XXXXXX)
sock=$root/podman.sock
bridge=""
subnet=""
service_pid=""

api() { curl -sS --max-time 60 --unix-socket "$sock" "$@"; }
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# Every process whose command line mentions our root (conmon, a container
# cleanup, the service): containers outlive the service, so they are found this way.
our_pids() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = "$$" ] && continue
    { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null | grep -qF "$root/" && echo "$pid"
  done
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$service_pid" ] && alive "$service_pid"; then
    # Remove whatever is left (the check below already reported it), then stop.
    for id in $(curl -s --max-time 10 --unix-socket "$sock" "http://d/containers/json?all=1" |
                grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      curl -s --max-time 20 --unix-socket "$sock" -X DELETE "http://d/containers/$id?force=1&v=1" >/dev/null
    done
    kill -TERM "$service_pid" 2>/dev/null
    for _ in $(seq 100); do alive "$service_pid" || break; sleep 0.1; done
    alive "$service_pid" && kill -KILL "$service_pid" 2>/dev/null
  fi
  [ -n "$service_pid" ] && wait "$service_pid" 2>/dev/null
  # conmon and `podman container cleanup` (which tears the container's network
  # down) may still be running: let them finish, then kill what is left.
  local pids
  for _ in $(seq 100); do [ -z "$(our_pids)" ] && break; sleep 0.1; done
  pids=$(our_pids)
  if [ -n "$pids" ]; then
    echo "with-podman: killing leftover processes: $pids" >&2
    kill -KILL $pids 2>/dev/null
    sleep 0.2
  fi
  # Mounts podman may have left (overlay, shm, netns) under our root.
  grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ -n "$bridge" ]; then
    ip link del "$bridge" 2>/dev/null
    # netavark removes its rules when the last container leaves the network;
    # remove any it did not (a killed service), naming our subnet or bridge.
    if [ -n "$subnet" ]; then
      for table in nat filter; do
        iptables -t "$table" -S 2>/dev/null | grep -F -e "$subnet" -e "$bridge" | grep '^-A ' |
          while read -r _ rule; do
            # shellcheck disable=SC2086
            iptables -t "$table" -D $rule 2>/dev/null
          done
      done
    fi
  fi
  global_cleanup
  rm -rf "$root"
  exit "$status"
}

# Rootful podman keeps a little machine-wide state whatever its roots: the IPAM
# database /run/containers/networks/ipam.db (shared by design), the blob-info
# cache /var/lib/containers/cache, and netavark's global iptables chains
# (NETAVARK-HOSTPORT-*, NETAVARK_FORWARD). Whatever of it did not exist before
# this run is removed at the end, unless another podman is running by then.
global_before=""
[ -e /run/containers/networks ] && global_before="$global_before rundir"
[ -e /var/lib/containers ] && global_before="$global_before varlib"
iptables -t nat -S NETAVARK-HOSTPORT-DNAT >/dev/null 2>&1 && global_before="$global_before natchains"
iptables -S NETAVARK_FORWARD >/dev/null 2>&1 && global_before="$global_before fwdchain"
global_cleanup() {
  local p
  for p in $(pgrep -x podman; pgrep -x conmon; pgrep -x netavark); do alive "$p" && return 0; done
  case "$global_before" in *rundir*) ;; *) rm -rf /run/containers/networks; rmdir /run/containers 2>/dev/null ;; esac
  case "$global_before" in *varlib*) ;; *) rm -rf /var/lib/containers ;; esac
  case "$global_before" in
    *natchains*) ;;
    *)
      # Only when no netavark network has rules left in them.
      if ! iptables -t nat -S 2>/dev/null | grep -q -e '^-A NETAVARK-HOSTPORT-DNAT' -e '^-N NETAVARK-[0-9A-F]'; then
        iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null
        iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT 2>/dev/null
        iptables -t nat -D POSTROUTING -j NETAVARK-HOSTPORT-MASQ 2>/dev/null
        for c in NETAVARK-HOSTPORT-DNAT NETAVARK-HOSTPORT-MASQ NETAVARK-HOSTPORT-SETMARK; do
          iptables -t nat -F "$c" 2>/dev/null; iptables -t nat -X "$c" 2>/dev/null
        done
      fi ;;
  esac
  case "$global_before" in
    *fwdchain*) ;;
    *)
      if ! iptables -S NETAVARK_FORWARD 2>/dev/null | grep -q '^-A'; then
        iptables -S FORWARD 2>/dev/null | grep -e '-j NETAVARK_FORWARD' | sed 's/^-A //' |
          while read -r rule; do eval "iptables -D $rule" 2>/dev/null; done
        iptables -X NETAVARK_FORWARD 2>/dev/null
      fi ;;
  esac
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pick a free 198.18.X.0/24 (X in 100..150) and a bridge name under a lock.
exec 9>/tmp/fcbd.lock
flock -w 30 9 || skip "cannot lock /tmp/fcbd.lock"
for x in $(seq 100 150); do
  if ! ip -4 addr show | grep -q "inet 198\.18\.$x\." && ! ip -4 route show | grep -q "^198\.18\.$x\." &&
     ! ls /tmp/fcbp.*/subnet-198.18.$x.0 >/dev/null 2>&1; then
    bridge=fcbp$(printf '%04x' $(( ($$ + x) % 65536 )))
    ip link show "$bridge" >/dev/null 2>&1 && { bridge=""; continue; }
    subnet=198.18.$x.0/24
    gateway=198.18.$x.1
    touch "$root/subnet-198.18.$x.0" # claims it until the bridge exists
    break
  fi
done
flock -u 9
[ -n "$bridge" ] || skip "no free 198.18.100-150.0/24 subnet for a private bridge"
net=fcbp-$(basename "$root" | cut -d. -f2)

mkdir -p "$root/networks" "$root/tmp" "$root/volumes"
# A netavark network file (what `podman network create` writes).
cat >"$root/networks/$net.json" <<EOF
{
  "name": "$net",
  "id": "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')",
  "driver": "bridge",
  "network_interface": "$bridge",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "subnets": [{"subnet": "$subnet", "gateway": "$gateway"}],
  "ipv6_enabled": false,
  "internal": false,
  "dns_enabled": false,
  "ipam_options": {"driver": "host-local"}
}
EOF
# Rootful podman gives every container RLIMIT_NOFILE/NPROC of 1048576 unless
# told otherwise, and runc cannot raise a hard limit without CAP_SYS_RESOURCE
# (which sandboxes such as this one's lack): use what we have. The service
# itself lowers its RLIMIT_NPROC to 32768, hence the cap.
lim() { local v; v=$(ulimit -H "$1"); [ "$v" = unlimited ] || [ "$v" -gt "$2" ] && v=$2; echo "$v"; }
nofile=$(lim -n 1048576)
nproc=$(lim -u 32768)
cat >"$root/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "bridge"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$root/events.log"
tmp_dir = "$root/tmp"
volume_path = "$root/volumes"
static_dir = "$root/storage/libpod"
lock_type = "file"
runtime = "$runtime"
image_copy_tmp_dir = "$root/tmp"
[network]
network_backend = "netavark"
network_config_dir = "$root/networks"
default_network = "$net"
default_subnet = "$subnet"
default_subnet_pools = []
EOF
cat >"$root/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$root/storage"
runroot = "$root/run"
EOF
# Nothing is pulled from outside: the public registries are blocked, and
# short names are never searched for.
cat >"$root/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "disabled"
[[registry]]
prefix = "docker.io"
location = "docker.io"
blocked = true
[[registry]]
prefix = "public.ecr.aws"
location = "public.ecr.aws"
blocked = true
[[registry]]
prefix = "quay.io"
location = "quay.io"
blocked = true
EOF
export CONTAINERS_CONF=$root/containers.conf
export CONTAINERS_STORAGE_CONF=$root/storage.conf
export CONTAINERS_REGISTRIES_CONF=$root/registries.conf

podman_args=(--root "$root/storage" --runroot "$root/run" --tmpdir "$root/tmp"
  --cgroup-manager=cgroupfs --events-backend=file --runtime "$runtime"
  --network-config-dir "$root/networks" --log-level=warn)
setsid podman "${podman_args[@]}" system service --time=0 "unix://$sock" \
  >"$root/podman.log" 2>&1 </dev/null 8>&- 9>&- &
service_pid=$!
ready=""
for _ in $(seq 200); do
  if curl -sf --max-time 1 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$service_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "with-podman: podman system service did not start; its log:" >&2
  tail -20 "$root/podman.log" >&2
  skip "podman cannot start on this machine"
fi

t0=$(date +%s%N)
engine_import_test_images || exit 1
version=$(api http://d/version | grep -o '"Version":"[^"]*"' | head -1 | cut -d'"' -f4)
echo "with-podman: podman $version ready on $sock (network $net, bridge $bridge, $subnet), images in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2

DOCKER_HOST="unix://$sock" FCB_TEST_PODMAN_ROOT="$root" "$@" 8>&- 9>&-
status=$?

if ! curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
  echo "with-podman: FAIL: the podman service is not answering after CMD; its log:" >&2
  tail -20 "$root/podman.log" >&2
  [ "$status" = 0 ] && status=1
fi

# Nothing may be left behind by CMD.
left=$(api "http://d/containers/json?all=1" | grep -o '"Names":\["[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')
if [ -n "$left" ]; then
  echo "with-podman: FAIL: containers left behind: $left" >&2
  [ "$status" = 0 ] && status=1
fi
exit "$status"
