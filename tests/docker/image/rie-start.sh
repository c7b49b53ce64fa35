#!/bin/sh
# Runtime Interface Emulator stand-in (entrypoint of the test runtime image).
# Cmd is [handler]; RIE_DELAY_S (function env) delays listening, to test
# readiness deadlines and close() during start-up.
# Like the real RIE, it exits on SIGTERM (docker stop, an engine shutting
# down): as PID 1 without a handler it would ignore it and the engine would
# wait out the 10 s stop timeout. Children run in the background so that the
# trap runs at once.
export RIE_HANDLER="${1:-app.handler}"
child=""
trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 143' TERM INT
if [ -n "${RIE_DELAY_S:-}" ]; then
  sleep "$RIE_DELAY_S" &
  child=$!
  wait "$child"
fi
echo "rie: listening on 8080, handler $RIE_HANDLER"
nc -ll -p 8080 -e /rie/conn.sh &
child=$!
wait "$child"
