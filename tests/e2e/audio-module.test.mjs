// agent-rtc-audio.js outside a browser: the file is both the audio worklet module and the module
// the SDK imports on the main thread for a WebSocket call; in neither role may its top level need
// what the other scope has (Node has neither AudioWorkletProcessor nor registerProcessor).
// - Its capture frames' protobuf header is the bytes the core's encoder writes for 640 bytes of
//   16 kHz mono (src/frames.rs pins the same hex), which the Pipecat runner decodes (tests/interop).
// - `audioOf` reads the bot's audio frames (the SDK hands them to the worklet unread): checked on
//   bytes Pipecat 1.14's own ProtobufFrameSerializer wrote (the same as src/frames.rs's test),
//   and on anything else, cut short or random, without ever throwing.
//
// Run: node --test tests/e2e/audio-module.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";

const m = await import("../../www/agent-rtc-audio.js");
const bytes = (a) => Uint8Array.from(a).buffer;

// OutputAudioRawFrame(id 42, name "audio", 4 bytes at 24 kHz mono, pts 150), as Pipecat writes it.
const PIPECAT_AUDIO = [0x12, 0x18, 0x08, 0x2a, 0x12, 0x05, 0x61, 0x75, 0x64, 0x69, 0x6f, 0x1a, 0x04, 1, 2, 3, 4, 0x20, 0xc0, 0xbb, 0x01, 0x28, 0x01, 0x30, 0x96, 0x01];

test("the audio module loads outside a worklet and its capture header is the core's", () => {
  assert.equal(typeof m.graph, "function");
  assert.equal(Buffer.from(m.HEADER).toString("hex"), "12880520807d28011a8005");
});

test("audioOf reads Pipecat's audio frame, and its own capture frame", () => {
  const [rate, channels, pcm] = m.audioOf(bytes(PIPECAT_AUDIO));
  assert.deepEqual([rate, channels, [...new Uint8Array(pcm.buffer)]], [24000, 1, [1, 2, 3, 4]]);
  // A capture frame (HEADER + 640 bytes) reads back as 320 samples at 16 kHz mono.
  const frame = new Uint8Array(m.HEADER.length + 640);
  frame.set(m.HEADER);
  new DataView(frame.buffer, m.HEADER.length).setInt16(0, -2, true);
  const [r, c, samples] = m.audioOf(frame.buffer);
  assert.deepEqual([r, c, samples.length, samples[0]], [16000, 1, 320, -2]);
});

test("audioOf: other frames, cut-short and random bytes are null, never a throw", () => {
  assert.equal(m.audioOf(bytes([0x22, 0x04, 0x0a, 0x02, 0x7b, 0x7d])), null, "a message frame");
  assert.equal(m.audioOf(bytes([0x2a, 0x05, 0x08, 0x07, 0x12, 0x01, 0x69])), null, "an interruption");
  assert.equal(m.audioOf(bytes([])), null);
  assert.equal(m.audioOf(bytes([0x12, 0x02, 0x20, 0x00])), null, "a rate of 0");
  for (let cut = 1; cut < PIPECAT_AUDIO.length; cut++) {
    const got = m.audioOf(bytes(PIPECAT_AUDIO.slice(0, cut)));
    assert.equal(got, null, `cut at ${cut}`);
  }
  let x = 0x2545f491;
  for (let i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const len = (x >>> 0) % 40;
    const a = Array.from({ length: len }, (_, k) => (x >>> (k % 4) * 8) & 255);
    m.audioOf(bytes(a)); // must not throw
    m.audioOf(bytes([0x12, len, ...a])); // nor with an audio tag in front
  }
});
