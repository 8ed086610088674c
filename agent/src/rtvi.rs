//! The RTVI messages the bot sends, shaped as Pipecat 1.14 serialises them
//! (`pipecat/processors/frameworks/rtvi/models.py`): every message carries `"label":"rtvi-ai"`,
//! fields a Pipecat model leaves at `None` are omitted, and only answers carry an `id`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub const LABEL: &str = "rtvi-ai";
/// The protocol version Pipecat 1.14 announces.
pub const PROTOCOL_VERSION: Version = Version([2, 2, 0]);
/// The one older major a 2.x server still serves (with the old bot-output format).
pub const LEGACY_MAJOR: u64 = 1;

/// An RTVI protocol version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub [u64; 3]);

impl Version {
    /// Parses exactly three dot-separated numbers, as Pipecat's version check does.
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.');
        let mut v = [0u64; 3];
        for slot in &mut v {
            *slot = parts.next()?.parse().ok()?;
        }
        parts.next().is_none().then_some(Version(v))
    }

    pub fn major(self) -> u64 {
        self.0[0]
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.0;
        write!(f, "{a}.{b}.{c}")
    }
}

/// A message without `id` or `data` (`user-started-speaking`, `bot-stopped-speaking`, ...).
pub fn event(kind: &str) -> Value {
    json!({"label": LABEL, "type": kind})
}

/// A message with `data` and no `id` (`server-message`, `bot-output`, `metrics`, ...).
pub fn with_data(kind: &str, data: Value) -> Value {
    json!({"label": LABEL, "type": kind, "data": data})
}

/// An answer to the client's message `id` (`bot-ready`, `server-response`, `error-response`).
pub fn answer(kind: &str, id: &Value, data: Value) -> Value {
    json!({"label": LABEL, "type": kind, "id": id, "data": data})
}

pub fn error_response(id: &Value, error: impl Into<String>) -> Value {
    answer("error-response", id, json!({"error": error.into()}))
}

/// The pipeline error event; `fatal` means the bot stops.
pub fn error(error: &str, fatal: bool) -> Value {
    with_data("error", json!({"error": error, "fatal": fatal}))
}

/// `bot-output` for one sentence. A 2.x server sends the 2.x fields (`output_type` and its two
/// deprecated aliases, `will_be_spoken`, `spoken_status`, `spoken_progress`) for text its TTS
/// spoke in one piece; a 1.x server sent only `text`, `spoken` and `aggregated_by`.
pub fn bot_output(server: Version, text: &str, spoken: bool, segment_id: u64) -> Value {
    if server.major() <= LEGACY_MAJOR {
        return with_data(
            "bot-output",
            json!({"text": text, "spoken": spoken, "aggregated_by": "sentence"}),
        );
    }
    let mut data = json!({
        "text": text,
        "output_type": "sentence",
        "text_type": "sentence",
        "aggregated_by": "sentence",
        "segment_id": segment_id,
        "spoken": spoken,
        "will_be_spoken": spoken,
    });
    if spoken {
        data["spoken_status"] = json!("completed");
        data["spoken_progress"] = json!({"accumulated_text": text, "remaining_text": ""});
    } else {
        data["spoken_status"] = json!("new");
    }
    with_data("bot-output", data)
}

/// The current UTC time as Python's `datetime.isoformat(timespec="milliseconds")` writes it,
/// which is what Pipecat puts in transcription timestamps: `2026-11-23T09:05:01.123+00:00`.
pub fn timestamp_now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    iso8601_ms(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Epoch milliseconds as an ISO 8601 UTC timestamp with milliseconds.
pub fn iso8601_ms(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        epoch_ms % 1000
    )
}

/// Days since 1970-01-01 to a (year, month, day) date in the proleptic Gregorian calendar
/// (the era-based method: 400-year eras of 146 097 days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the Unix epoch, for debug records tests compare with their own clock.
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse("2.2.0"), Some(Version([2, 2, 0])));
        assert_eq!(Version::parse("1.0.0").map(Version::major), Some(1));
        for bad in ["2.2", "2.2.0.1", "a.b.c", "", "1..0", "-1.0.0"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert_eq!(PROTOCOL_VERSION.to_string(), "2.2.0");
    }

    #[test]
    fn envelopes() {
        assert_eq!(
            event("user-started-speaking"),
            json!({"label":"rtvi-ai","type":"user-started-speaking"})
        );
        assert_eq!(
            error_response(&json!("a1"), "nope"),
            json!({"label":"rtvi-ai","type":"error-response","id":"a1","data":{"error":"nope"}})
        );
        assert_eq!(
            error("boom", true),
            json!({"label":"rtvi-ai","type":"error","data":{"error":"boom","fatal":true}})
        );
    }

    #[test]
    fn bot_output_per_major() {
        assert_eq!(
            bot_output(Version([1, 0, 0]), "Hi.", true, 3),
            json!({"label":"rtvi-ai","type":"bot-output",
                   "data":{"text":"Hi.","spoken":true,"aggregated_by":"sentence"}})
        );
        assert_eq!(
            bot_output(PROTOCOL_VERSION, "Hi.", true, 3)["data"],
            json!({"text":"Hi.","output_type":"sentence","text_type":"sentence",
                   "aggregated_by":"sentence","segment_id":3,"spoken":true,"will_be_spoken":true,
                   "spoken_status":"completed",
                   "spoken_progress":{"accumulated_text":"Hi.","remaining_text":""}})
        );
        let unspoken = bot_output(PROTOCOL_VERSION, "Hi.", false, 4);
        assert_eq!(unspoken["data"]["spoken_status"], "new");
        assert!(unspoken["data"].get("spoken_progress").is_none());
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(iso8601_ms(951_782_400_123), "2000-02-29T00:00:00.123+00:00");
        assert_eq!(
            iso8601_ms(1_795_425_901_007),
            "2026-11-23T09:25:01.007+00:00"
        );
        let now = timestamp_now();
        assert_eq!(now.len(), 29, "{now}");
        assert!(now.ends_with("+00:00"));
    }
}
