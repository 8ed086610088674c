// Client B of the benchmark, "the floor": the SmallWebRTC protocol by hand, no library, every step
// as early as a browser allows. Not a product: no retries, no reconnection, no validation beyond
// what the run needs. What it shows is how fast the protocol itself can go against a given server,
// so the distance between a real client and this one is what that client costs.
//
// connectFloor({ startUrl, offerUrlFor, track }) → Promise<{ pc, dc, close() }>, resolved on the
// bot's RTVI bot-ready.

const JSON_HEADERS = { "content-type": "application/json" };
const CLIENT_READY = JSON.stringify({
  label: "rtvi-ai",
  type: "client-ready",
  id: "x",
  data: { version: "2.2.0", about: { library: "floor", library_version: "0" } },
});
const trackStatus = (index, enabled) =>
  JSON.stringify({ type: "signalling", message: { type: "trackStatus", receiver_index: index, enabled } });

export async function connectFloor({ startUrl, offerUrlFor, track }) {
  // 1. The start request leaves first: it is the longest wait and nothing it returns is needed to
  //    build the peer connection and the offer.
  const started = fetch(startUrl, { method: "POST", headers: JSON_HEADERS, body: "{}" }).then(async (r) => {
    if (!r.ok) throw new Error(`start answered ${r.status}`);
    return r.json();
  });

  // 2. Meanwhile: the peer connection the server expects (audio mid 0, video mid 1, `chat`).
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  pc.addTransceiver(track, { direction: "sendrecv" });
  pc.addTransceiver("video", { direction: "sendrecv" });
  const dc = pc.createDataChannel("chat", { ordered: true });

  let ping = null;
  const close = () => {
    clearInterval(ping);
    dc.close();
    pc.close();
  };

  // Trickle: candidates found before the server named the peer connection wait in `queued`.
  let offerUrl = null;
  let pcId = null;
  const queued = [];
  const patch = (candidates) =>
    fetch(offerUrl, { method: "PATCH", headers: JSON_HEADERS, body: JSON.stringify({ pc_id: pcId, candidates }) }).catch(
      () => {},
    );
  pc.onicecandidate = (e) => {
    if (!e.candidate || !e.candidate.candidate) return;
    const c = { candidate: e.candidate.candidate, sdp_mid: e.candidate.sdpMid, sdp_mline_index: e.candidate.sdpMLineIndex };
    if (pcId) patch([c]);
    else queued.push(c);
  };

  const ready = new Promise((resolve, reject) => {
    dc.onopen = () => {
      dc.send(trackStatus(0, true));
      dc.send(trackStatus(1, false));
      dc.send(CLIENT_READY);
      ping = setInterval(() => dc.send(`ping: ${Date.now()}`), 1000);
    };
    dc.onmessage = (e) => {
      if (typeof e.data !== "string" || !e.data.includes('"bot-ready"')) return;
      try {
        if (JSON.parse(e.data).type === "bot-ready") resolve();
      } catch {
        // not JSON: not for us
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") reject(new Error("peer connection failed"));
    };
  });

  try {
    const offered = pc.createOffer().then((offer) => pc.setLocalDescription(offer));
    // 3. The offer leaves the moment both the session id and the local offer exist.
    const [session] = await Promise.all([started, offered]);
    offerUrl = offerUrlFor(session.sessionId);
    const res = await fetch(offerUrl, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", pc_id: null, restart_pc: false }),
    });
    if (!res.ok) throw new Error(`offer answered ${res.status}`);
    const answer = await res.json();
    pcId = answer.pc_id;
    // 4. The answer goes in first (it starts ICE), then the queued candidates follow it out.
    const answered = pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    if (queued.length) patch(queued.splice(0));
    await answered;
    await ready;
    return { pc, dc, close };
  } catch (e) {
    close();
    throw e;
  }
}
