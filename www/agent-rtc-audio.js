// agent-rtc's audio worklet, for calls over the WebSocket transport. Loaded by the SDK with
// `audioWorklet.addModule()` from the URL of this file beside the package's JS (no blob: or
// data: URL, no eval: a page whose CSP allows its own scripts allows this).
//
// "agent-rtc-capture": the microphone, averaged down to 16 kHz mono, as 20 ms frames of 16-bit
// little-endian PCM, each posted to the main thread as a whole protobuf audio frame: the header
// the SDK computed (`processorOptions`, the same for every frame) followed by the samples, so
// the main thread sends it as it is. Its output stays silent (it is there so that the context
// runs the node: Firefox and WebKit render only what reaches the destination).
// "agent-rtc-playback": the bot's PCM, resampled from each frame's own rate to the context's,
// played from a jitter buffer. The bot sends faster than real time, so playback starts once the
// prebuffer is queued and then plays at the context's pace; an empty buffer is an underrun
// (silence, a larger prebuffer, and the wait for it again); "flush" (an interruption) empties it. The bot plays
// on output 0 (the call's remoteStream); output 1, to the context's destination, stays silent.

const CAPTURE_RATE = 16000;
const FRAME_SAMPLES = CAPTURE_RATE / 50;
// The jitter buffer starts playing once PREBUFFER_MS are queued; every underrun adds
// PREBUFFER_STEP_MS, up to PREBUFFER_MAX_MS: it settles where the server's pacing needs it
// (measured against the Pipecat runner's echo bot: 40 ms, from its 40 ms output chunks).
const PREBUFFER_MS = 20;
const PREBUFFER_STEP_MS = 10;
const PREBUFFER_MAX_MS = 120;
const STATS_EVERY = 32;

class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.header = new Uint8Array(options.processorOptions);
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

class Playback extends AudioWorkletProcessor {
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
    const [rate, channels, bytes] = data;
    if (!(rate > 0) || !(channels > 0)) return;
    const pcm = new Int16Array(bytes, 0, bytes.byteLength >> 1);
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

registerProcessor("agent-rtc-capture", Capture);
registerProcessor("agent-rtc-playback", Playback);
