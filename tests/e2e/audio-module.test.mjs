// agent-rtc-audio.js outside a browser: the file is both the audio worklet module and the module
// the SDK imports on the main thread for a WebSocket call; in neither role may its top level need
// what the other scope has (Node has neither AudioWorkletProcessor nor registerProcessor). Its
// capture frames' protobuf header is the bytes the core's encoder writes for 640 bytes of 16 kHz
// mono (src/frames.rs pins the same hex), which the Pipecat runner decodes (tests/interop).
//
// Run: node --test tests/e2e/audio-module.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";

test("the audio module loads outside a worklet and its capture header is the core's", async () => {
  const m = await import("../../www/agent-rtc-audio.js");
  assert.equal(typeof m.graph, "function");
  assert.equal(Buffer.from(m.HEADER).toString("hex"), "12880520807d28011a8005");
});
