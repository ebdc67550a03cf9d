#!/bin/sh
# Open a remote.it connection through the broker, show it, stop it: the broker API with nothing but curl
# (7.75 or later, for --aws-sigv4) and a POSIX shell.
#
#   BROKER_API_URL=https://abcdef1234.execute-api.eu-west-1.amazonaws.com \
#   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... [AWS_SESSION_TOKEN=...] \
#     sh broker.sh 80:00:00:00:01:02:03:04
#
# curl signs every request itself: --aws-sigv4 "aws:amz:REGION:execute-api" with --user KEY:SECRET. The key
# and secret (and a session token) reach curl on stdin as config lines (`user = "KEY:SECRET"`, see curl's
# --config), never on its command line, where `ps` would show them to every user of the machine.
# REGION is read from an execute-api URL; for a custom domain or the local stack, set BROKER_REGION.
#
# Prints the opened, the shown and the stopped connection as one JSON line each on stdout. Exits 0 once
# stopped, 1 with the problem's type and detail when the broker says no (curl's own code when it cannot
# reach the broker), 2 on bad usage. The connection is stopped on any exit after the open, Ctrl-C included.
# Before curl 8.1 a query string must be in alphabetical order to sign right (none is used here).
set -eu

usage() {
  echo "broker.sh: $1" >&2
  echo "usage: BROKER_API_URL=URL [BROKER_REGION=REGION] broker.sh SERVICE_ID" >&2
  exit 2
}

[ $# -eq 1 ] || usage "expected one argument, SERVICE_ID"
service_id=$1
case $service_id in
  '' | *[!0-9A-Fa-f:]*) usage "SERVICE_ID must be a remote.it service address (8 hex bytes separated by colons)" ;;
esac
api_url=${BROKER_API_URL:-}
[ -n "$api_url" ] || usage "BROKER_API_URL is required"
api_url=${api_url%/}
[ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || usage "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"

host=$(printf '%s\n' "$api_url" | sed -E 's#^[A-Za-z]+://([^/:]+).*#\1#')
region=${BROKER_REGION:-$(printf '%s\n' "$host" | sed -nE 's#^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$#\1#p')}
[ -n "$region" ] || usage "BROKER_REGION is required: cannot read a region from $host (a custom domain or a local URL)"

work=$(mktemp -d)
body=$work/body
connection_id=

# signed METHOD PATH [curl options]: one SigV4-signed request; prints the HTTP status, leaves the body in $body.
signed() {
  method=$1
  path=$2
  shift 2
  {
    printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
    if [ -n "${AWS_SESSION_TOKEN:-}" ]; then printf 'header = "x-amz-security-token: %s"\n' "$AWS_SESSION_TOKEN"; fi
  } | curl --silent --show-error --config - --aws-sigv4 "aws:amz:$region:execute-api" \
    --request "$method" --max-time 35 --output "$body" --write-out '%{http_code}' "$@" "$api_url$path"
}

# field NAME: a string field of the JSON answer in $body (enough for these answers; use jq for more).
field() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$body" | head -n 1
}

# expect_ok WHAT STATUS: the answer's body on stdout when STATUS is 2xx, else the problem on stderr and 1.
expect_ok() {
  case $2 in
    2??) cat "$body"; echo; return 0 ;;
  esac
  # A problem+json answer has type and detail; API Gateway's own 403 only {"message": ...}.
  echo "broker.sh: $1 failed: $2 $(field type): $(field detail)$(field message)" >&2
  return 1
}

stop_connection() {
  [ -n "$connection_id" ] || return 0
  id=$connection_id
  connection_id=
  status=$(signed DELETE "/connections/$id") || return 1
  expect_ok "stop of $id" "$status" || return 1
  echo "broker.sh: stopped $id ($(field status))" >&2
}

trap 'code=$?; trap - EXIT; stop_connection || code=1; rm -rf "$work"; exit $code' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# One key for this open: repeating the same request (same key, same body) replays the first answer
# instead of opening a second proxy.
key=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
status=$(signed POST /connections --header 'content-type: application/json' --header "Idempotency-Key: $key" \
  --data "{\"serviceId\":\"$service_id\"}")
expect_ok open "$status" || exit 1
connection_id=$(field id)
echo "broker.sh: opened $connection_id ($(field status))" >&2

# Your work goes here: the proxy is at the answer's proxy.host and proxy.port (a latching proxy belongs to
# the first address that connects); POST /connections/ID/renew with {"ttlSeconds": N} if it runs long.
status=$(signed GET "/connections/$connection_id")
expect_ok "read of $connection_id" "$status" || exit 1

stop_connection
