#!/usr/bin/env bash
# Finishes pkg/ after wasm-pack: ships the <agent-preview> widget beside the SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f www/agent-preview.js ]; then
  cp www/agent-preview.js pkg/agent-preview.js
  node -e '
    const fs = require("fs"); const p = "pkg/package.json";
    const j = JSON.parse(fs.readFileSync(p, "utf8"));
    j.files = Array.from(new Set([...(j.files || []), "agent-preview.js"]));
    fs.writeFileSync(p, JSON.stringify(j, null, 2) + "\n");'
fi
