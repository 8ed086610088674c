// The WebSocket benchmark's page (tests/bench/websocket.mjs): agent-rtc over a WebSocket and over
// WebRTC, and "the floor" — a hand-written minimal client of Pipecat's WebSocket transport: the
// start request, the socket, client-ready and bot-ready as protobuf message frames, the microphone
// as 20 ms PCM frames and the bot's audio played as it arrives (no jitter buffer), through one
// small AudioWorklet. Every client gets the same microphone: an oscillator the page clicks.

import init, * as sdk from "/pkg/agent_rtc.js";

await init();

// ---- the microphone: silence, and a 10 ms burst of a 1 kHz tone on click() ----
const micCtx = new AudioContext();
const osc = micCtx.createOscillator();
osc.frequency.value = 1000;
const gate = micCtx.createGain();
gate.gain.value = 0;
const micDest = micCtx.createMediaStreamDestination();
osc.connect(gate).connect(micDest);
osc.start();
const mic = micDest.stream.getAudioTracks()[0];
function click() {
  const t = micCtx.currentTime + 0.005;
  gate.gain.setValueAtTime(0.8, t);
  gate.gain.setValueAtTime(0, t + 0.01);
  return performance.now() + 5;
}

// ---- hearing the bot: the first sample above a threshold after `since` ----
function listen(stream) {
  const ctx = new AudioContext();
  const a = ctx.createAnalyser();
  a.fftSize = 256;
  ctx.createMediaStreamSource(stream).connect(a);
  const buf = new Float32Array(a.fftSize);
  const heard = [];
  const timer = setInterval(() => {
    a.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    if (peak > 0.2) heard.push(performance.now());
  }, 2);
  return {
    firstAfter: (t) => heard.find((h) => h > t),
    close: () => {
      clearInterval(timer);
      ctx.close();
    },
  };
}

async function clicks(stream, n = 5) {
  const ear = listen(stream);
  const out = [];
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < n; i++) {
    const t = click();
    await new Promise((r) => setTimeout(r, 700));
    const h = ear.firstAfter(t);
    out.push(h ? h - t : null);
  }
  ear.close();
  return out;
}

// ---- agent-rtc ----
window.ours = async ({ baseUrl, transport, mouth }) => {
  const t0 = performance.now();
  const conn = await sdk.startAndConnect({ platform: "pipecat-runner", baseUrl, transport, audio: mic, timeoutMs: 30000 });
  const ready = performance.now() - t0;
  // Chromium renders a WebRTC call's remote audio only while something plays it.
  if (mouth) await conn.attachAudio();
  const ears = mouth ? await clicks(conn.remoteStream) : [];
  const stats = await conn.getStats();
  await conn.disconnect();
  return { ready, ears, underruns: stats.playbackUnderruns };
};

// ---- the floor ----
const enc = new TextEncoder();
const dec = new TextDecoder();
function varint(out, n) {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}
function bytesField(out, field, bytes) {
  varint(out, (field << 3) | 2);
  varint(out, bytes.length);
  for (const b of bytes) out.push(b);
}
function messageFrame(obj) {
  const inner = [];
  bytesField(inner, 1, enc.encode(JSON.stringify(obj)));
  const out = [];
  bytesField(out, 4, inner);
  return Uint8Array.from(out);
}
function* fields(bytes, start, end) {
  let i = start;
  const v = () => {
    let n = 0;
    let m = 1;
    for (;;) {
      const b = bytes[i++];
      n += (b & 0x7f) * m;
      if (b < 0x80) return n;
      m *= 128;
    }
  };
  while (i < end) {
    const key = v();
    const type = key & 7;
    if (type === 0) yield [key >> 3, v()];
    else if (type === 2) {
      const len = v();
      yield [key >> 3, [i, i + len]];
      i += len;
    } else if (type === 1) i += 8;
    else i += 4;
  }
}

const FLOOR_WORKLET = `
class Cap extends AudioWorkletProcessor {
  constructor() { super(); this.step = sampleRate / 16000; this.ph = 0; this.f = new Int16Array(320); this.n = 0; }
  process(inputs) {
    const x = inputs[0][0]; if (!x) return true;
    for (let i = 0; i < x.length; i++) { this.ph += 1; if (this.ph < this.step) continue; this.ph -= this.step;
      this.f[this.n++] = Math.max(-1, Math.min(1, x[i])) * 0x7fff;
      if (this.n === 320) { this.port.postMessage(this.f.buffer, [this.f.buffer]); this.f = new Int16Array(320); this.n = 0; } }
    return true;
  }
}
class Play extends AudioWorkletProcessor {
  constructor() { super(); this.q = []; this.port.onmessage = (e) => {
    const [rate, pcm] = e.data; const s = new Int16Array(pcm); const step = rate / sampleRate;
    for (let p = 0; p < s.length - 1; p += step) { const k = Math.floor(p); this.q.push((s[k] + (s[k + 1] - s[k]) * (p - k)) / 0x8000); } }; }
  process(_, outputs) { const o = outputs[0][0]; const n = Math.min(o.length, this.q.length);
    for (let i = 0; i < n; i++) o[i] = this.q[i]; this.q.splice(0, n); return true; }
}
registerProcessor("floor-cap", Cap); registerProcessor("floor-play", Play);`;
const floorWorkletUrl = URL.createObjectURL(new Blob([FLOOR_WORKLET], { type: "text/javascript" }));

window.floor = async ({ baseUrl, mouth }) => {
  const t0 = performance.now();
  const ctx = new AudioContext();
  const audio = ctx.audioWorklet.addModule(floorWorkletUrl);
  const started = await fetch(`${baseUrl}/start`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ transport: "websocket" }),
  }).then((r) => r.json());
  const ws = new WebSocket(`${started.wsUrl}?token=${encodeURIComponent(started.token)}`);
  ws.binaryType = "arraybuffer";
  let play = null;
  const remote = ctx.createMediaStreamDestination();
  const ready = new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error("floor: socket error"));
    ws.onopen = () => ws.send(messageFrame({ label: "rtvi-ai", type: "client-ready", id: "f1", data: { version: "2.2.0", about: { library: "floor" } } }));
    ws.onmessage = (e) => {
      const b = new Uint8Array(e.data);
      for (const [f, v] of fields(b, 0, b.length)) {
        if (f === 4) {
          for (const [g, r] of fields(b, v[0], v[1])) if (g === 1) {
            const m = JSON.parse(dec.decode(b.subarray(r[0], r[1])));
            if (m.type === "bot-ready") resolve(performance.now() - t0);
          }
        } else if (f === 2 && play) {
          let rate = 16000;
          let pcm = null;
          for (const [g, r] of fields(b, v[0], v[1])) {
            if (g === 4) rate = r;
            if (g === 3) pcm = b.slice(r[0], r[1]).buffer;
          }
          if (pcm) play.port.postMessage([rate, pcm], [pcm]);
        }
      }
    };
  });
  const readyMs = await ready;
  await audio;
  play = new AudioWorkletNode(ctx, "floor-play", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
  play.connect(remote);
  const cap = new AudioWorkletNode(ctx, "floor-cap", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
  cap.connect(ctx.destination);
  ctx.createMediaStreamSource(new MediaStream([mic])).connect(cap);
  const header = [];
  {
    const inner = [];
    varint(inner, 4 << 3);
    varint(inner, 16000);
    varint(inner, 5 << 3);
    varint(inner, 1);
    varint(inner, (3 << 3) | 2);
    varint(inner, 640);
    varint(header, (2 << 3) | 2);
    varint(header, inner.length + 640);
    header.push(...inner);
  }
  cap.port.onmessage = (e) => {
    if (ws.readyState !== 1) return;
    const frame = new Uint8Array(header.length + 640);
    frame.set(header);
    frame.set(new Uint8Array(e.data), header.length);
    ws.send(frame);
  };
  const ears = mouth ? await clicks(remote.stream) : [];
  ws.close();
  await ctx.close();
  return { ready: readyMs, ears };
};

window.pageReady = true;
