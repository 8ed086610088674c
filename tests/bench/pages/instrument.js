// Loaded (as a classic script, before anything else) by every warm benchmark page. It timestamps
// the protocol steps of whichever client runs in the page, the same way for all of them, by
// wrapping the browser APIs every client has to go through: fetch (start, offer, trickle),
// the RTCPeerConnection constructor, createOffer, setLocalDescription / setRemoteDescription, the
// data channel.
// Times are ms since __bench.begin() (performance.now()); only the first occurrence of a step in a
// run counts. Nothing here changes what a client sends or receives.
(() => {
  let run = null;
  const pcs = [];
  const mark = (r, key) => {
    if (r && r[key] === undefined) r[key] = performance.now() - r.t0;
  };

  window.__bench = {
    /** Starts a run: the call under test must be the next thing the page does. */
    begin() {
      run = { t0: performance.now() };
      return run;
    },
    end() {
      const r = run;
      run = null;
      return r;
    },
    openPcs: () => pcs.filter((p) => p.connectionState !== "closed").length,
  };

  const kindOf = (method, url) => {
    const path = new URL(url, location.href).pathname;
    if (method === "POST" && path.endsWith("/start")) return "start";
    if (method === "POST" && path.endsWith("/api/offer")) return "offer";
    if (method === "PATCH" && path.endsWith("/api/offer")) return "patch";
    return null;
  };
  const origFetch = window.fetch;
  window.fetch = function fetch(input, init) {
    const r = run;
    const isRequest = typeof Request === "function" && input instanceof Request;
    const url = isRequest ? input.url : String(input);
    const method = ((init && init.method) || (isRequest ? input.method : "GET")).toUpperCase();
    const kind = kindOf(method, url);
    if (kind) mark(r, `${kind}Sent`);
    const p = origFetch.call(window, input, init);
    if (kind) p.then(() => mark(r, `${kind}Answered`), () => {});
    return p;
  };

  const Orig = window.RTCPeerConnection;
  const proto = Orig.prototype;
  window.RTCPeerConnection = class RTCPeerConnection extends Orig {
    constructor(...args) {
      super(...args);
      const r = run;
      this.__benchRun = r;
      pcs.push(this);
      mark(r, "pcCreated");
      this.addEventListener("iceconnectionstatechange", () => {
        if (this.iceConnectionState === "connected" || this.iceConnectionState === "completed") mark(r, "iceConnected");
      });
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") mark(r, "pcConnected");
      });
    }
  };
  // createOffer() only builds the SDP; setLocalDescription() applies it and starts ICE gathering.
  // `calledKey`: also when the call was made (the client's own work before it shows there).
  const wrapDescription = (name, key, calledKey) => {
    const orig = proto[name];
    proto[name] = function (...args) {
      const r = this.__benchRun;
      if (calledKey) mark(r, calledKey);
      const p = orig.apply(this, args);
      p.then(() => mark(r, key), () => {});
      return p;
    };
  };
  wrapDescription("createOffer", "offerCreated");
  wrapDescription("setLocalDescription", "localOfferSet");
  wrapDescription("setRemoteDescription", "remoteAnswerSet", "remoteAnswerCalled");
  const createDataChannel = proto.createDataChannel;
  proto.createDataChannel = function (...args) {
    const r = this.__benchRun;
    const dc = createDataChannel.apply(this, args);
    dc.addEventListener("open", () => mark(r, "channelOpen"));
    dc.addEventListener("message", (e) => {
      if (typeof e.data === "string" && e.data.includes('"bot-ready"')) mark(r, "botReadyMessage");
    });
    return dc;
  };
})();
