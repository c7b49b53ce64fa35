# engine-lib.sh: what with-dockerd.sh and with-podman.sh share (sourced, not run).
# The caller defines: $here (this directory), $busybox, skip() (exit 77 with a
# reason), and, before engine_import_test_images, $root and api() (curl to the
# engine's socket). $engine names the wrapper in messages.

# busybox-static is the whole userland of the test images.
engine_require_busybox() {
  [ -x "$busybox" ] || skip "no $busybox (apt-get install busybox-static)"
  if ldd "$busybox" >/dev/null 2>&1; then skip "$busybox is not static (install busybox-static)"; fi
}

# One private engine run at a time on this machine (dockerd or Podman): they
# would hand out the same ephemeral host ports and compete for the 2 cores.
# Bounded wait (800 s: longer than the longest holder, the docker reliability
# suite, ~350 s; every engine test's meson timeout is 900 s because it includes
# this wait); fd 8 holds the lock until the wrapper exits.
engine_take_run_lock() {
  exec 8>/tmp/fcbd.run.lock
  if ! flock -w 800 8; then
    echo "$engine: another private engine run held /tmp/fcbd.run.lock for 800 s; running anyway" >&2
  fi
}

# Build the runtime image's rootfs (busybox + the RIE stand-in + a handler for
# Image functions) under $root and import it under every name the tests use.
engine_import_test_images() {
  local rootfs=$root/rootfs
  mkdir -p "$rootfs/bin" "$rootfs/rie" "$rootfs/var/task" "$rootfs/var/runtime" "$rootfs/opt" \
    "$rootfs/tmp" "$rootfs/etc"
  cp "$busybox" "$rootfs/bin/busybox"
  "$busybox" --list | while read -r applet; do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
  cp "$here/image/rie-start.sh" "$rootfs/rie/start.sh"
  cp "$here/image/rie-conn.sh" "$rootfs/rie/conn.sh"
  cp "$here/image/image-handler.sh" "$rootfs/var/task/image.sh"
  chmod 755 "$rootfs/rie/start.sh" "$rootfs/rie/conn.sh"
  echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
  ENGINE_ROOTFS=$rootfs
  engine_import public.ecr.aws/lambda/python 3.12 'ENTRYPOINT ["/rie/start.sh"]' 'EXPOSE 8080' || return 1
  engine_tag public.ecr.aws/lambda/python:3.12 public.ecr.aws/lambda/provided al2023 || return 1
  engine_tag public.ecr.aws/lambda/python:3.12 localhost:5000/fakecloud-image-fn 1 || return 1
  engine_tag public.ecr.aws/lambda/python:3.12 fakecloud-test/image-fn 1 || return 1
  engine_import fakecloud-test/crash 1 \
    'ENTRYPOINT ["/bin/sh", "-c", "echo starting; echo fatal: runtime crashed on purpose >&2; exit 3"]' || return 1
}

engine_import() { # repo tag changes...
  local repo=$1 tag=$2 out; shift 2
  # Podman's compat import ignores `tag`: the tag goes into `repo` (dockerd accepts that too).
  local q="fromSrc=-&repo=$(printf %s "$repo:$tag" | sed 's|/|%2F|g; s|:|%3A|g')"
  for c in "$@"; do q="$q&changes=$(printf %s "$c" | sed 's/ /%20/g; s/"/%22/g; s/\[/%5B/g; s/\]/%5D/g; s/,/%2C/g; s/>/%3E/g; s/&/%26/g; s/;/%3B/g')"; done
  out=$(tar -C "$ENGINE_ROOTFS" -c . | api -X POST -H 'Content-Type: application/x-tar' --data-binary @- \
    "http://d/images/create?$q")
  if [ -z "$out" ] || printf %s "$out" | grep -q '"error'; then
    echo "$engine: import $repo:$tag failed: $out" >&2; return 1
  fi
}

engine_tag() { # source repo tag
  local code
  code=$(api -o /dev/null -w '%{http_code}' -X POST "http://d/images/$1/tag?repo=$(printf %s "$2" | sed 's|/|%2F|g')&tag=$3")
  if [ "$code" != 201 ]; then
    echo "$engine: tag $1 -> $2:$3 failed ($code); images: $(api http://d/images/json | grep -o '"RepoTags":\[[^]]*\]' | tr '\n' ' ')" >&2
    return 1
  fi
}
