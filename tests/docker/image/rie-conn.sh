#!/bin/sh
# One HTTP connection of the RIE stand-in (stdin/stdout are the socket).
# POST /2015-03-31/functions/function/invocations runs
# /var/task/<handler module>.sh (or /var/runtime/<module>.sh) with the event
# on stdin; its stdout is the response body. A handler that exits non-zero
# answers 200 with X-Amz-Function-Error: Unhandled, like the RIE does for a
# function error. Anything else gets a 404.
read -r method path proto
len=0
i=0
while [ $i -lt 100 ] && read -r line; do
  i=$((i + 1))
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) len=$(echo ${line#*:}) ;;
  esac
done
reply() { # status, body[, extra header line]
  printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n' "$1" "${#2}"
  [ -z "${3:-}" ] || printf '%s\r\n' "$3"
  printf 'Connection: close\r\n\r\n%s' "$2"
}
if [ "$method" = POST ] && [ "$path" = /2015-03-31/functions/function/invocations ]; then
  module=${RIE_HANDLER%%.*}
  script=/var/task/$module.sh
  [ -f "$script" ] || script=/var/runtime/$module.sh
  if [ ! -f "$script" ]; then
    reply "502 Bad Gateway" "{\"errorMessage\":\"handler $module.sh not found\"}"
    exit 0
  fi
  if [ "$len" -gt 0 ]; then
    out=$(head -c "$len" | sh "$script" 2>&1)
    status=$?
  else
    out=$(sh "$script" </dev/null 2>&1)
    status=$?
  fi
  if [ "$status" -ne 0 ]; then
    reply "200 OK" "$out" "X-Amz-Function-Error: Unhandled"
  else
    reply "200 OK" "$out"
  fi
else
  reply "404 Not Found" ""
fi
