#!/bin/sh
# Test exec credential plugin (client.authentication.k8s.io): prints an
# ExecCredential carrying the token found in $KUBESIM_TOKEN_FILE, appends one
# line per run to $EXEC_COUNT_FILE (so tests can see the cache at work) and
# checks what the client passes in KUBERNETES_EXEC_INFO.
set -eu
echo run >> "$EXEC_COUNT_FILE"
case "${KUBERNETES_EXEC_INFO:-}" in
  *'"kind":"ExecCredential"'*'"interactive":false'*) ;;
  *) echo "exec-credential.sh: KUBERNETES_EXEC_INFO missing or wrong" >&2; exit 3 ;;
esac
if [ -n "${EXEC_EXPECT_SERVER:-}" ]; then
  case "$KUBERNETES_EXEC_INFO" in
    *"\"server\":\"$EXEC_EXPECT_SERVER\""*'"certificate-authority-data":'*) ;;
    *) echo "exec-credential.sh: cluster info missing" >&2; exit 4 ;;
  esac
fi
if [ -n "${EXEC_FAIL:-}" ]; then
  echo "exec-credential.sh: refusing on purpose" >&2
  exit 2
fi
token=$(cat "$KUBESIM_TOKEN_FILE")
expiry=""
if [ -n "${EXEC_EXPIRY:-}" ]; then
  expiry=",\"expirationTimestamp\":\"$EXEC_EXPIRY\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s}}\n' \
  "$EXEC_API_VERSION" "$token" "$expiry"
echo "exec-credential.sh: issued a token" >&2
