//! The trickle-ICE queue (docs/protocol.md §3): local candidates wait until the server's `pc_id` is
//! known, then go out in batches — one PATCH at a time, carrying everything gathered meanwhile —
//! so a burst of candidates costs few requests and none waits for gathering to finish.
//! The end of gathering is not sent: the Pipecat server parses every candidate it is given
//! (aiortc's `candidate_from_sdp`) and answers an empty one with a 500, and it needs no such
//! signal (the official client sends none either).
//! The offer itself carries the candidates gathered before it left (the browser's local
//! description as it is then): the server checks them at once, and they are not sent again. An
//! offer that says `a=end-of-candidates` (Firefox, gathering done) ends the trickle: aiortc
//! refuses any candidate after it.

use crate::json::{obj, Value};

/// `RTCIceConnectionState` / `RTCPeerConnectionState` values that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    Checking,
    Connected,
    Disconnected,
    Failed,
    Closed,
    Other,
}

impl IceState {
    pub fn parse(s: &str) -> IceState {
        match s {
            "checking" => IceState::Checking,
            "connected" | "completed" => IceState::Connected,
            "disconnected" => IceState::Disconnected,
            "failed" => IceState::Failed,
            "closed" => IceState::Closed,
            _ => IceState::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Empty means the end of gathering (never sent).
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

impl Candidate {
    fn to_json(&self) -> Value {
        obj([
            ("candidate", self.candidate.as_str().into()),
            ("sdp_mid", self.sdp_mid.as_deref().unwrap_or("0").into()),
            (
                "sdp_mline_index",
                u32::from(self.sdp_mline_index.unwrap_or(0)).into(),
            ),
        ])
    }
}

#[derive(Debug, Default)]
pub struct TrickleQueue {
    pc_id: Option<String>,
    queue: Vec<Candidate>,
    in_flight: bool,
    ended: bool,
    sent_requests: u32,
    /// The candidates the offer carried.
    in_offer: Vec<String>,
    /// A new gathering began and none of its candidates came yet: an end of gathering now is
    /// the replaced gathering's (Chromium delivers it after the ICE restart's offer is set).
    fresh: bool,
}

/// What names a candidate: `candidate:<foundation> <component> <transport> <priority> <address>
/// <port>`. The SDP line and the browser's event may differ after it (Chromium's event adds
/// `ufrag`).
fn key(candidate: &str) -> &[u8] {
    let bytes = candidate.as_bytes();
    let mut spaces = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b' ' {
            spaces += 1;
            if spaces == 6 {
                return bytes.get(..i).unwrap_or(bytes);
            }
        }
    }
    bytes
}

impl TrickleQueue {
    pub fn new() -> TrickleQueue {
        TrickleQueue::default()
    }

    /// A gathered candidate; `None` is the browser's end of gathering.
    pub fn push(&mut self, candidate: Option<Candidate>) {
        if self.ended {
            return;
        }
        match candidate {
            Some(c) if self.carried(&c.candidate) => self.fresh = false,
            Some(c) if !c.candidate.is_empty() => {
                self.fresh = false;
                self.queue.push(c)
            }
            _ if self.fresh => {}
            _ => self.ended = true,
        }
    }

    /// The offer leaves carrying `sdp`: its candidates are the server's already.
    pub fn in_offer(&mut self, sdp: &str) {
        for line in sdp.split('\n') {
            match line.strip_suffix('\r').unwrap_or(line).strip_prefix("a=") {
                Some(c) if c.starts_with("candidate:") => self.in_offer.push(c.to_owned()),
                Some("end-of-candidates") => self.ended = true,
                _ => {}
            }
        }
        for c in std::mem::take(&mut self.queue) {
            self.push(Some(c));
        }
    }

    fn carried(&self, candidate: &str) -> bool {
        self.in_offer.iter().any(|o| key(o) == key(candidate))
    }

    pub fn set_pc_id(&mut self, pc_id: String) {
        self.pc_id = Some(pc_id);
    }

    /// A new offer (renegotiation, ICE restart) gathers again.
    pub fn restart(&mut self) {
        self.queue.clear();
        self.in_offer.clear();
        self.ended = false;
        self.fresh = true;
    }

    /// The next PATCH body to send, if one may go now. Call again after it completes.
    pub fn next_batch(&mut self) -> Option<Value> {
        let pc_id = self.pc_id.as_ref()?;
        if self.in_flight || self.queue.is_empty() {
            return None;
        }
        let mut candidates = Vec::new();
        for c in std::mem::take(&mut self.queue) {
            candidates.push(c.to_json());
        }
        self.in_flight = true;
        self.sent_requests += 1;
        Some(obj([
            ("pc_id", pc_id.as_str().into()),
            ("candidates", Value::Array(candidates)),
        ]))
    }

    pub fn batch_done(&mut self) {
        self.in_flight = false;
    }

    pub fn sent_requests(&self) -> u32 {
        self.sent_requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cand(n: u32) -> Option<Candidate> {
        Some(Candidate {
            candidate: format!("candidate:{n} 1 udp 1 10.0.0.1 {n} typ host"),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        })
    }

    #[test]
    fn queued_until_pc_id_then_one_batch() {
        let mut q = TrickleQueue::new();
        q.push(cand(1));
        q.push(cand(2));
        assert_eq!(q.next_batch(), None, "no pc_id yet");
        q.set_pc_id("pc-1".into());
        let batch = q.next_batch().unwrap();
        assert_eq!(batch["pc_id"], "pc-1");
        assert_eq!(batch["candidates"].as_array().unwrap().len(), 2);
        assert_eq!(batch["candidates"][1]["sdp_mline_index"], json!(0));
        assert_eq!(q.next_batch(), None, "queue empty");
    }

    #[test]
    fn a_burst_during_a_request_becomes_one_more_request() {
        let mut q = TrickleQueue::new();
        q.set_pc_id("pc".into());
        q.push(cand(1));
        assert!(q.next_batch().is_some());
        for n in 2..=9 {
            q.push(cand(n));
            assert_eq!(q.next_batch(), None, "one request in flight at a time");
        }
        q.push(None);
        q.batch_done();
        let batch = q.next_batch().unwrap();
        let list = batch["candidates"].as_array().unwrap();
        assert_eq!(list.len(), 8, "the end of gathering is not sent");
        assert!(list.iter().all(|c| c["candidate"] != ""), "{list:?}");
        q.batch_done();
        assert_eq!(q.sent_requests(), 2);
        q.push(cand(10));
        assert_eq!(q.next_batch(), None, "nothing after the end of gathering");
    }

    #[test]
    fn candidates_the_offer_carried_are_not_sent_again() {
        let mut q = TrickleQueue::new();
        q.push(cand(1));
        q.push(cand(2));
        // Chromium's event carries `ufrag`, its SDP line does not: the same candidate.
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=candidate:1 1 udp 1 10.0.0.1 1 typ host generation 0\r\na=mid:0\r\n";
        q.in_offer(sdp);
        q.push(Some(Candidate {
            candidate: "candidate:1 1 udp 1 10.0.0.1 1 typ host ufrag x".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }));
        q.push(cand(3));
        q.set_pc_id("pc".into());
        let b = q.next_batch().unwrap();
        let sent: Vec<&str> = b["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["candidate"].as_str().unwrap())
            .collect();
        assert_eq!(
            sent,
            [
                "candidate:2 1 udp 1 10.0.0.1 2 typ host",
                "candidate:3 1 udp 1 10.0.0.1 3 typ host"
            ]
        );
        // A new offer gathers anew: nothing of the old one is remembered.
        q.batch_done();
        q.restart();
        q.push(cand(1));
        assert!(q.next_batch().is_some());
    }

    #[test]
    fn an_offer_that_ended_its_candidates_ends_the_trickle() {
        let mut q = TrickleQueue::new();
        q.push(cand(1));
        q.in_offer("a=candidate:1 1 udp 1 10.0.0.1 1 typ host\r\na=end-of-candidates\r\n");
        q.push(cand(2));
        q.set_pc_id("pc".into());
        assert_eq!(
            q.next_batch(),
            None,
            "aiortc refuses candidates after the end"
        );
        assert_eq!(q.sent_requests(), 0);
    }

    #[test]
    fn an_empty_candidate_ends_gathering_unsent_and_restart_reopens() {
        let mut q = TrickleQueue::new();
        q.push(cand(1));
        q.push(Some(Candidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_mline_index: None,
        }));
        q.push(cand(2));
        q.set_pc_id("p".into());
        let b = q.next_batch().unwrap();
        assert_eq!(
            b["candidates"],
            json!([{"candidate":"candidate:1 1 udp 1 10.0.0.1 1 typ host","sdp_mid":"0","sdp_mline_index":0}])
        );
        q.batch_done();
        q.push(None);
        assert_eq!(
            q.next_batch(),
            None,
            "nothing to send for the end of gathering"
        );
        q.restart();
        q.push(cand(3));
        assert!(q.next_batch().is_some());
    }

    #[test]
    fn the_replaced_gatherings_end_after_an_ice_restart_does_not_end_the_new_one() {
        // Chromium: the offer is made again under new ICE servers (an ICE restart) and the first
        // gathering's end of candidates arrives after that; the new gathering's candidates
        // still go out, and its own end ends the trickle.
        let mut q = TrickleQueue::new();
        q.push(cand(1));
        q.restart();
        q.push(None);
        q.push(cand(2));
        q.set_pc_id("pc".into());
        let b = q.next_batch().expect("the new gathering's candidate");
        assert_eq!(
            b["candidates"][0]["candidate"],
            "candidate:2 1 udp 1 10.0.0.1 2 typ host"
        );
        q.batch_done();
        q.push(None);
        q.push(cand(3));
        assert_eq!(q.next_batch(), None, "its own end does end it");
    }
}
