#!/usr/bin/env bash
# Starts the local agent serving www/ and pkg/, prints the demo URL once it answers, and stops it
# cleanly on Ctrl-C.
set -euo pipefail
bin=$1 host=$2 port=$3
"$bin" --host "$host" --port "$port" --www www --pkg pkg &
agent=$!
trap 'kill -INT $agent 2>/dev/null; wait $agent 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 300); do
  if curl -fsS "http://$host:$port/health" >/dev/null 2>&1; then
    echo "agent-rtc demo: http://$host:$port/"
    wait $agent
    exit $?
  fi
  kill -0 $agent 2>/dev/null || { echo "demo: the agent exited" >&2; exit 1; }
  sleep 0.1
done
echo "demo: the agent did not answer on http://$host:$port/" >&2
kill $agent; exit 1
