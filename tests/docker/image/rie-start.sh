#!/bin/sh
# Runtime Interface Emulator stand-in (entrypoint of the test runtime image).
# Cmd is [handler]; RIE_DELAY_S (function env) delays listening, to test
# readiness deadlines and close() during start-up.
export RIE_HANDLER="${1:-app.handler}"
if [ -n "${RIE_DELAY_S:-}" ]; then
  sleep "$RIE_DELAY_S"
fi
echo "rie: listening on 8080, handler $RIE_HANDLER"
exec nc -ll -p 8080 -e /rie/conn.sh
