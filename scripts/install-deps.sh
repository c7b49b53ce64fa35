#!/usr/bin/env bash
# Install what the build, the tests and the demo need on Debian 12, only what is
# missing. Run as root (uses apt-get). Safe to run again.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config python3 git
      libcurl4-gnutls-dev libjson-c-dev libgnutls28-dev libyaml-dev libarchive-dev
      libmicrohttpd-dev libcriterion-dev gnutls-bin valgrind
      docker.io busybox-static zip unzip curl iproute2 procps
      podman netavark iptables   # tests/docker/with-podman.sh (netavark: not CNI)
      awscli python3-boto3)      # tests/serve: serve driven by real clients
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl: any kubectl on PATH will do (several versions are tested when present);
# otherwise Debian's kubernetes-client provides one.
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=(kubernetes-client)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: everything present"
fi
