//! `getStats()` summarised: the browser's `RTCStatsReport` entries in, docs/api.md's
//! `ConnectionStats` out.

use crate::json::Value;
use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionStats {
    pub timestamp: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub packets_received: Option<f64>,
    pub packets_lost: Option<f64>,
    pub packets_sent: Option<f64>,
    pub bytes_received: Option<f64>,
    pub bytes_sent: Option<f64>,
    pub inbound_audio_level: Option<f64>,
    pub outbound_audio_level: Option<f64>,
    pub candidate_pair_type: Option<String>,
}

/// docs/api.md's shape: camelCase keys, absent values left out. Written as a map, not derived as a
/// struct: serde-wasm-bindgen turns a struct's field names into JS strings through a cache (a
/// `HashMap`) that cost the wasm ~3 KB; its serializer with `serialize_maps_as_objects` makes the
/// same plain object from a map.
impl Serialize for ConnectionStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let numbers = [
            ("timestamp", self.timestamp),
            ("rttMs", self.rtt_ms),
            ("jitterMs", self.jitter_ms),
            ("packetsReceived", self.packets_received),
            ("packetsLost", self.packets_lost),
            ("packetsSent", self.packets_sent),
            ("bytesReceived", self.bytes_received),
            ("bytesSent", self.bytes_sent),
            ("inboundAudioLevel", self.inbound_audio_level),
            ("outboundAudioLevel", self.outbound_audio_level),
        ];
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in numbers {
            if let Some(value) = value {
                map.serialize_entry(key, &value)?;
            }
        }
        if let Some(kind) = &self.candidate_pair_type {
            map.serialize_entry("candidatePairType", kind)?;
        }
        map.end()
    }
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn add(slot: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

/// Counters are summed over all RTP streams; jitter and levels come from the audio streams; RTT and
/// the candidate type from the selected candidate pair.
pub fn summarize(entries: &[Value]) -> ConnectionStats {
    let mut s = ConnectionStats::default();
    let by_id = |id: &str| entries.iter().find(|e| text(e, "id") == Some(id));
    for e in entries {
        if let Some(t) = num(e, "timestamp") {
            s.timestamp = Some(s.timestamp.map_or(t, |m: f64| m.max(t)));
        }
        let audio = text(e, "kind") == Some("audio");
        match text(e, "type") {
            Some("inbound-rtp") => {
                add(&mut s.packets_received, num(e, "packetsReceived"));
                add(&mut s.packets_lost, num(e, "packetsLost"));
                add(&mut s.bytes_received, num(e, "bytesReceived"));
                if audio {
                    s.jitter_ms = num(e, "jitter").map(|j| j * 1000.0).or(s.jitter_ms);
                    s.inbound_audio_level = num(e, "audioLevel").or(s.inbound_audio_level);
                }
            }
            Some("outbound-rtp") => {
                add(&mut s.packets_sent, num(e, "packetsSent"));
                add(&mut s.bytes_sent, num(e, "bytesSent"));
            }
            Some("media-source") if audio => {
                s.outbound_audio_level = num(e, "audioLevel").or(s.outbound_audio_level);
            }
            _ => {}
        }
    }
    let selected = entries
        .iter()
        .filter(|e| text(e, "type") == Some("transport"))
        .find_map(|t| text(t, "selectedCandidatePairId").and_then(by_id))
        .or_else(|| {
            entries.iter().find(|e| {
                text(e, "type") == Some("candidate-pair")
                    && text(e, "state") == Some("succeeded")
                    && e.get("nominated").and_then(Value::as_bool) == Some(true)
            })
        });
    if let Some(pair) = selected {
        s.rtt_ms = num(pair, "currentRoundTripTime").map(|r| r * 1000.0);
        s.candidate_pair_type = text(pair, "localCandidateId")
            .and_then(by_id)
            .and_then(|c| text(c, "candidateType"))
            .map(str::to_owned);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summarises_a_chromium_report() {
        let report: Vec<Value> = [
            json!({"id":"T01","type":"transport","timestamp":1000.0,"selectedCandidatePairId":"CP2"}),
            json!({"id":"CP1","type":"candidate-pair","state":"failed","currentRoundTripTime":9.0,"localCandidateId":"L2"}),
            json!({"id":"CP2","type":"candidate-pair","state":"succeeded","nominated":true,"currentRoundTripTime":0.004,"localCandidateId":"L1","timestamp":1001.0}),
            json!({"id":"L1","type":"local-candidate","candidateType":"host"}),
            json!({"id":"L2","type":"local-candidate","candidateType":"relay"}),
            json!({"id":"IA","type":"inbound-rtp","kind":"audio","packetsReceived":100,"packetsLost":2,"bytesReceived":8000,"jitter":0.0025,"audioLevel":0.3}),
            json!({"id":"IV","type":"inbound-rtp","kind":"video","packetsReceived":10,"packetsLost":1,"bytesReceived":1000}),
            json!({"id":"OA","type":"outbound-rtp","kind":"audio","packetsSent":120,"bytesSent":9000}),
            json!({"id":"MS","type":"media-source","kind":"audio","audioLevel":0.1}),
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        let s = summarize(&report);
        assert_eq!(s.rtt_ms, Some(4.0));
        assert_eq!(s.jitter_ms, Some(2.5));
        assert_eq!(
            (s.packets_received, s.packets_lost, s.bytes_received),
            (Some(110.0), Some(3.0), Some(9000.0))
        );
        assert_eq!((s.packets_sent, s.bytes_sent), (Some(120.0), Some(9000.0)));
        assert_eq!(
            (s.inbound_audio_level, s.outbound_audio_level),
            (Some(0.3), Some(0.1))
        );
        assert_eq!(s.candidate_pair_type.as_deref(), Some("host"));
        assert_eq!(s.timestamp, Some(1001.0));
        // Every key of docs/api.md's ConnectionStats, camelCase, numbers as numbers.
        let js = serde_json::to_value(&s).unwrap();
        let expected = json!({"timestamp": 1001.0, "rttMs": 4.0, "jitterMs": 2.5,
            "packetsReceived": 110.0, "packetsLost": 3.0, "packetsSent": 120.0,
            "bytesReceived": 9000.0, "bytesSent": 9000.0, "inboundAudioLevel": 0.3,
            "outboundAudioLevel": 0.1, "candidatePairType": "host"});
        assert_eq!(js, expected);
    }

    #[test]
    fn nominated_pair_without_transport_and_empty_reports() {
        let report: Vec<Value> = [
            json!({"id":"CP","type":"candidate-pair","state":"succeeded","nominated":true,"localCandidateId":"L"}),
            json!({"id":"L","type":"local-candidate","candidateType":"prflx"}),
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        let s = summarize(&report);
        assert_eq!(s.candidate_pair_type.as_deref(), Some("prflx"));
        assert_eq!(s.rtt_ms, None);
        let empty = summarize(&[]);
        assert_eq!(empty, ConnectionStats::default());
        assert_eq!(serde_json::to_value(&empty).unwrap(), json!({}));
    }
}
