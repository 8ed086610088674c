// agent-rtc's audio for calls over the WebSocket transport, one file in two roles:
// - in the AudioWorkletGlobalScope (`audioWorklet.addModule(url)`): the two processors below;
// - on the main thread (`import(url)`, by the SDK on a WebSocket call's start, so that a page that
//   never makes one never loads it): `graph()`, the nodes around them.
// Loaded from the URL of this file beside the package's JS (no blob: or data: URL, no eval: a
// page whose CSP allows its own scripts allows this).
//
// "agent-rtc-capture": the microphone, averaged down to 16 kHz mono, as 20 ms frames of 16-bit
// little-endian PCM, each posted to the main thread as a whole protobuf audio frame (HEADER, the
// same for every frame, followed by the samples), so the main thread sends it as it is. Its output stays silent (it is there so that the context
// runs the node: Firefox and WebKit render only what reaches the destination).
// "agent-rtc-playback": the bot's audio frames as the server sent them (the SDK hands them over
// unread: `audioOf` reads them here, off the main thread), resampled from each frame's own rate to the context's,
// played from a jitter buffer. The bot sends faster than real time, so playback starts once the
// prebuffer is queued and then plays at the context's pace; an empty buffer is an underrun
// (silence, a larger prebuffer, and the wait for it again); "flush" (an interruption) empties it. The bot plays
// on output 0 (the call's remoteStream); output 1, to the context's destination, stays silent.

/**
 * Main thread: loads the processors into `context` and builds the graph. Resolves to the
 * graph's handle: `track` (the bot's audio, for remoteStream), `ws` (set by the SDK: capture
 * frames go to it while it is open; `sent` counts them, [frames, bytes]), `stats` (the playback
 * buffer's depth, underruns, seconds played, prebuffer: from the worklet), `report(…)` (the
 * call's getStats()), `play(frame)` (a server audio frame; none: empty the buffer),
 * `setMic(track)`, `close()` (every node and handler let go; the SDK closes the context).
 */
export async function graph(context, url) {
  await context.audioWorklet.addModule(url);
  const node = (name, inputs, outputs) =>
    new AudioWorkletNode(context, name, {
      numberOfInputs: inputs,
      numberOfOutputs: outputs,
      outputChannelCount: Array(outputs).fill(1),
    });
  const speakers = context.destination;
  const capture = node("agent-rtc-capture", 1, 1);
  const playback = node("agent-rtc-playback", 0, 2);
  const out = context.createMediaStreamDestination();
  capture.connect(speakers);
  playback.connect(out, 0);
  playback.connect(speakers, 1);
  let source = null;
  const g = {
    track: out.stream.getAudioTracks()[0],
    ws: null,
    sent: [0, 0],
    stats: [0, 0, 0, 0],
    /** getStats() of the call: the socket's counters (the SDK's) with the graph's. */
    report: (bytesSent, bytesReceived, framesSent, framesReceived, audioFramesReceived) => ({
      transport: "websocket",
      bytesSent: bytesSent + g.sent[1],
      bytesReceived,
      framesSent: framesSent + g.sent[0],
      framesReceived,
      audioFramesReceived,
      playbackBufferMs: g.stats[0] * 1000,
      playbackUnderruns: g.stats[1],
      playedMs: g.stats[2] * 1000,
      playbackPrebufferMs: g.stats[3] * 1000,
    }),
    // A frame for the jitter buffer; none: empty it (an interruption).
    play: (frame) => playback.port.postMessage(frame || "flush", frame ? [frame] : []),
    setMic(track) {
      const next = context.createMediaStreamSource(new MediaStream([track]));
      next.connect(capture);
      if (source) source.disconnect();
      source = next;
    },
    close() {
      for (const n of [capture, playback, source]) {
        if (n) n.disconnect();
      }
      capture.port.onmessage = playback.port.onmessage = null;
      g.ws = source = null;
    },
  };
  capture.port.onmessage = (e) => {
    // Before the socket opens and after it closed, the microphone goes nowhere.
    if (g.ws && g.ws.readyState === 1) {
      g.ws.send(e.data);
      g.sent[0]++;
      g.sent[1] += e.data.byteLength;
    }
  };
  playback.port.onmessage = (e) => {
    g.stats = e.data;
  };
  context.resume().catch(() => {});
  return g;
}

const CAPTURE_RATE = 16000;
const FRAME_SAMPLES = CAPTURE_RATE / 50;
// What comes before the samples in every capture frame: protobuf `pipecat.Frame` field 2 (audio,
// length-delimited) holding an `AudioRawFrame` with sample_rate (4) 16000, num_channels (5) 1 and
// audio (3): the 640 bytes that follow.
const varint = (n) => {
  const out = [];
  for (; n > 127; n >>>= 7) out.push((n & 127) | 128);
  return [...out, n];
};
const PCM_BYTES = FRAME_SAMPLES * 2;
const FIELDS = [0x20, ...varint(CAPTURE_RATE), 0x28, 1, 0x1a, ...varint(PCM_BYTES)];
export const HEADER = new Uint8Array([0x12, ...varint(FIELDS.length + PCM_BYTES), ...FIELDS]);

/**
 * The bot's audio in a server frame as it came off the socket (a protobuf `pipecat.Frame` whose
 * `audio` (2) is an `AudioRawFrame`: audio (3) the PCM bytes, sample_rate (4), num_channels (5)):
 * `[rate, channels, Int16Array]`, or null for anything else or anything malformed. Unknown fields
 * are skipped, as protobuf wants; nothing here throws.
 */
export function audioOf(buffer) {
  const b = new Uint8Array(buffer);
  // The fields of b[from, to): calls `on(field, value, start, end)` (value: a varint's, or the
  // length of a length-delimited one at [start, end)); false when malformed.
  const fields = (from, to, on) => {
    let p = from;
    const num = () => {
      let n = 0;
      for (let scale = 1; p < to && scale < 2 ** 63; scale *= 128) {
        const x = b[p++];
        n += (x & 127) * scale;
        if (x < 128) return n;
      }
      return -1;
    };
    while (p < to) {
      const key = num();
      let value = 0;
      const type = key % 8;
      if (type === 0) value = num();
      else if (type === 2) value = num();
      else if (type === 1 || type === 5) p += type === 1 ? 8 : 4;
      else return false;
      if (key < 0 || value < 0) return false;
      const start = p;
      if (type === 2) p += value;
      if (p > to) return false;
      on((key - type) / 8, value, start, p, type);
    }
    return true;
  };
  let inner = null;
  if (!fields(0, b.length, (f, _v, start, end, type) => (inner = f === 2 && type === 2 ? [start, end] : inner))) return null;
  if (!inner) return null;
  let rate = 0;
  let channels = 1;
  let pcm = null;
  const ok = fields(inner[0], inner[1], (f, v, start, end, type) => {
    if (f === 3 && type === 2) pcm = [start, end];
    else if (f === 4 && type === 0) rate = v;
    else if (f === 5 && type === 0) channels = v;
  });
  if (!ok || !pcm || !(rate > 0) || !(channels > 0)) return null;
  // A copy: the samples may start at an odd offset, which an Int16Array cannot.
  return [rate, channels, new Int16Array(buffer.slice(pcm[0], pcm[1] - ((pcm[1] - pcm[0]) % 2)))];
}
// The jitter buffer starts playing once PREBUFFER_MS are queued; every underrun adds
// PREBUFFER_STEP_MS, up to PREBUFFER_MAX_MS: it settles where the server's pacing needs it
// (measured against the Pipecat runner's echo bot: 40 ms, from its 40 ms output chunks).
const PREBUFFER_MS = 20;
const PREBUFFER_STEP_MS = 10;
const PREBUFFER_MAX_MS = 120;
const STATS_EVERY = 32;

// Only in the worklet scope (the main thread has no AudioWorkletProcessor).
const Processor = globalThis.AudioWorkletProcessor || class {};

class Capture extends Processor {
  constructor() {
    super();
    this.header = HEADER;
    this.step = sampleRate / CAPTURE_RATE;
    this.phase = 0;
    this.sum = 0;
    this.count = 0;
    this.filled = 0;
    this.next();
  }

  /** A new frame: the header, then room for the samples (little-endian, whatever the host). */
  next() {
    this.buffer = new ArrayBuffer(this.header.length + FRAME_SAMPLES * 2);
    new Uint8Array(this.buffer).set(this.header);
    this.frame = new DataView(this.buffer, this.header.length);
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      this.sum += input[i];
      this.count++;
      this.phase += 1;
      if (this.phase < this.step) continue;
      this.phase -= this.step;
      const v = Math.max(-1, Math.min(1, this.sum / this.count));
      this.sum = 0;
      this.count = 0;
      this.frame.setInt16(2 * this.filled++, v < 0 ? v * 0x8000 : v * 0x7fff, true);
      if (this.filled === FRAME_SAMPLES) {
        const out = this.buffer;
        this.port.postMessage(out, [out]);
        this.next();
        this.filled = 0;
      }
    }
    return true;
  }
}

class Playback extends Processor {
  constructor() {
    super();
    this.chunks = [];
    this.offset = 0;
    this.depth = 0;
    this.playing = false;
    this.prebuffer = Math.round((sampleRate * PREBUFFER_MS) / 1000);
    this.underruns = 0;
    this.played = 0;
    this.calls = 0;
    // Resampling state, per source rate: the last sample and the position between samples.
    this.rate = 0;
    this.last = 0;
    this.pos = 0;
    this.port.onmessage = (e) => this.receive(e.data);
  }

  receive(data) {
    if (data === "flush") {
      this.chunks = [];
      this.offset = 0;
      this.depth = 0;
      this.playing = false;
      return;
    }
    const audio = audioOf(data);
    if (!audio) return;
    const [rate, channels, pcm] = audio;
    const frames = Math.floor(pcm.length / channels);
    if (rate !== this.rate) {
      this.rate = rate;
      this.pos = 0;
    }
    const step = rate / sampleRate;
    // Linear interpolation at positions in this frame's samples, -1 being the last sample of
    // the frame before (so frames join without a click).
    const prev = this.last;
    const at = (k) => (k < 0 ? prev : pcm[k * channels] / 0x8000);
    let pos = this.pos;
    const out = new Float32Array(Math.max(0, Math.ceil((frames - 1 - pos) / step)) + 1);
    let n = 0;
    while (pos < frames - 1 && n < out.length) {
      const k = Math.floor(pos);
      const a = at(k);
      out[n++] = a + (at(k + 1) - a) * (pos - k);
      pos += step;
    }
    if (frames > 0) {
      this.pos = pos - frames;
      this.last = at(frames - 1);
    }
    if (n > 0) {
      this.chunks.push(n === out.length ? out : out.subarray(0, n));
      this.depth += n;
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.depth >= this.prebuffer) this.playing = true;
    let i = 0;
    if (this.playing) {
      while (i < out.length && this.chunks.length > 0) {
        const chunk = this.chunks[0];
        const take = Math.min(out.length - i, chunk.length - this.offset);
        out.set(chunk.subarray(this.offset, this.offset + take), i);
        i += take;
        this.offset += take;
        this.depth -= take;
        if (this.offset === chunk.length) {
          this.chunks.shift();
          this.offset = 0;
        }
      }
      if (i < out.length) {
        this.underruns++;
        this.playing = false;
        const step = Math.round((sampleRate * PREBUFFER_STEP_MS) / 1000);
        this.prebuffer = Math.min(this.prebuffer + step, Math.round((sampleRate * PREBUFFER_MAX_MS) / 1000));
      }
      this.played += i;
    }
    out.fill(0, i);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (++this.calls % STATS_EVERY === 0) {
      this.port.postMessage([this.depth / sampleRate, this.underruns, this.played / sampleRate, this.prebuffer / sampleRate]);
    }
    return true;
  }
}

if (typeof registerProcessor === "function") {
  registerProcessor("agent-rtc-capture", Capture);
  registerProcessor("agent-rtc-playback", Playback);
}
