// Loaded (as a classic script, before the client) by both blackout pages. It watches one call the
// same way whichever client runs it:
//  - every RTCPeerConnection the page creates gets a number, and its ICE / connection states are
//    logged with their times (a client that restarts creates a new one);
//  - a sampler asks the client's *current* peer connection for its inbound audio every ~20 ms:
//    packetsReceived (the bot's RTP, ~50/s, silence included) and totalAudioEnergy (non-zero only
//    for audio that is played and loud: the echoed beep of the fake microphone, every 500 ms),
//    and outbound packetsSent (the microphone: the echo bot only echoes what it receives);
//  - whatever the client tells the app is logged through __blackout.event();
//  - every fetch (start, offer, trickle PATCH): when it left, when and how it ended.
// Times are epoch ms (performance.timeOrigin + performance.now()), the clock the bench script
// cuts the network by. Nothing here changes what a client sends or receives.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const pcIds = new WeakMap();
  const pcs = [];
  const live = [];
  const events = [];
  const samples = [];
  let sampling = false;

  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = class RTCPeerConnection extends Orig {
    constructor(...args) {
      super(...args);
      const rec = { id: pcs.length + 1, created: now(), states: [] };
      pcs.push(rec);
      live.push(this);
      pcIds.set(this, rec.id);
      const log = () => rec.states.push({ t: now(), ice: this.iceConnectionState, conn: this.connectionState });
      this.addEventListener("iceconnectionstatechange", log);
      this.addEventListener("connectionstatechange", log);
    }
  };

  // Every request the client makes (start, offers, trickle): when it left, how it ended.
  const requests = [];
  const origFetch = window.fetch;
  window.fetch = function fetch(input, init) {
    const isRequest = typeof Request === "function" && input instanceof Request;
    const url = new URL(isRequest ? input.url : String(input), location.href);
    const rec = {
      t: now(),
      method: ((init && init.method) || (isRequest ? input.method : "GET")).toUpperCase(),
      path: url.pathname,
    };
    const describe = (text) => {
      try {
        const body = JSON.parse(text);
        if (body && body.type === "offer") {
          const ufrag = /a=ice-ufrag:(\S+)/.exec(body.sdp || "");
          Object.assign(rec, { offer: true, restart_pc: body.restart_pc, pc_id: body.pc_id, ufrag: ufrag && ufrag[1] });
        }
        if (body && Array.isArray(body.candidates)) rec.candidates = body.candidates.length;
      } catch {
        // not JSON: nothing more to say about it
      }
    };
    if (init && typeof init.body === "string") describe(init.body);
    else if (isRequest && rec.method !== "GET") input.clone().text().then(describe, () => {});
    requests.push(rec);
    const p = origFetch.call(window, input, init);
    p.then(
      (r) => Object.assign(rec, { done: now(), status: r.status }),
      (e) => Object.assign(rec, { done: now(), error: e && e.name === "AbortError" ? "aborted" : String(e && e.message) }),
    );
    return p;
  };

  async function inbound(pc) {
    let packets = 0;
    let energy = 0;
    let sent = 0;
    // Firefox can leave a getStats() of a peer connection closed meanwhile pending for ever (seen
    // after a restart's swap): give up on it and sample the current one.
    let timer;
    const stats = await Promise.race([
      pc.getStats(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("getStats hung")), 500))),
    ]).finally(() => clearTimeout(timer));
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        packets += s.packetsReceived || 0;
        energy += s.totalAudioEnergy || 0;
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        sent += s.packetsSent || 0;
      }
    });
    return { packets, energy, sent };
  }

  window.__blackout = {
    now,
    event(source, name, data) {
      let d = data;
      try {
        d = data === undefined ? null : JSON.parse(JSON.stringify(data));
      } catch {
        d = String(data);
      }
      events.push({ t: now(), source, name, data: d });
    },
    /** Samples getPc()'s audio until stop(): [t, pc number, packets, energy, packets sent]. */
    startSampler(getPc, periodMs = 20) {
      sampling = true;
      (async () => {
        while (sampling) {
          const pc = getPc();
          if (pc && pc.connectionState !== "closed") {
            const t = now();
            try {
              const { packets, energy, sent } = await inbound(pc);
              samples.push([t, pcIds.get(pc) || 0, packets, energy, sent]);
            } catch {
              // a peer connection closed between the check and getStats: next sample
            }
          }
          await new Promise((r) => setTimeout(r, periodMs));
        }
      })();
    },
    stopSampler() {
      sampling = false;
    },
    /** Samples since t (all when omitted). */
    samples: (t = 0) => samples.filter((s) => s[0] >= t),
    snapshot: () => ({
      events,
      requests,
      // with what each connection's transceivers ended up doing (mid, kind, negotiated direction)
      pcs: pcs.map((rec, i) => ({
        ...rec,
        transceivers: live[i].getTransceivers().map((x) => ({ mid: x.mid, kind: x.receiver.track.kind, direction: x.currentDirection, sending: Boolean(x.sender.track) })),
      })),
      samples,
      visibility: document.visibilityState,
    }),
  };
})();
