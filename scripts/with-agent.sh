#!/usr/bin/env bash
# Runs a command with a fresh local agent on a free loopback port; the agent's URL is passed as
# AGENT_RTC_TEST_AGENT and its API key as AGENT_RTC_TEST_KEY. The agent is stopped afterwards.
set -euo pipefail
bin=$1; shift; [ "${1:-}" = "--" ] && shift
export AGENT_RTC_TEST_KEY="test-key-$RANDOM$RANDOM"
log=$(mktemp)
# A lenient ping timeout: a loaded CI machine may delay the page's 1 s pings (the agent's own
# tests cover the 3 s default). Room for more sessions than the default 100: a session stays
# live for a minute after its client left, and the leak test alone starts 100 within seconds,
# after the other suites (the agent's own tests cover the limit).
"$bin" --host 127.0.0.1 --port 0 --api-key "$AGENT_RTC_TEST_KEY" --ping-timeout-ms 8000 \
  --max-sessions 1000 >"$log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 200); do
  url=$(sed -n 's/^agent-rtc agent listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n1)
  [ -n "$url" ] && break
  kill -0 $agent 2>/dev/null || { cat "$log" >&2; echo "with-agent: the agent exited" >&2; exit 1; }
  sleep 0.05
done
[ -n "$url" ] || { cat "$log" >&2; echo "with-agent: the agent did not start" >&2; exit 1; }
export AGENT_RTC_TEST_AGENT="$url"
echo "with-agent: local agent at $url"
"$@"
