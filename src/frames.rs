//! Pipecat's WebSocket frames: each binary message is one protobuf `pipecat.Frame`, a oneof of
//! `text` (1), `audio` (2), `transcription` (3), `message` (4) and `interruption` (5)
//! (docs/protocol.md, "The WebSocket transport"). RTVI travels as `message.data`, the JSON text;
//! audio as `audio.audio`, 16-bit little-endian PCM at `audio.sample_rate`. Audio frames are
//! only recognised here: the audio worklet (agent-rtc-audio.js) reads them, and builds the
//! microphone's, so their bytes never enter the wasm.
//!
//! Written by hand (protobuf's wire format is five rules), reading only what the SDK needs and
//! skipping the rest, so an unknown field or frame kind from a newer server is ignored, never an
//! error. Nothing here panics on any input.

/// A frame from the server, as far as the client cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The bot's audio (for the audio worklet, which reads its fields).
    Audio,
    /// An RTVI message: its JSON text is `bytes[text.0..text.1]` (UTF-8 as the server sent
    /// it; the shell decodes it, the browser being better at that than a copy of `from_utf8`).
    Message((usize, usize)),
    /// The bot was interrupted: drop the audio buffered for playback.
    Interruption,
    /// A `text` or `transcription` frame, or a kind this client does not know: nothing to do
    /// (RTVI carries what a client shows).
    Other,
}

/// The first byte of an audio frame as Pipecat writes it (the oneof's only field, 2, a
/// length-delimited message): the shell hands such frames to the worklet without decoding them.
pub const AUDIO_TAG: u8 = 0x12;

/// Why a message is not a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Reads one binary message.
pub fn decode(bytes: &[u8]) -> Result<Frame, Malformed> {
    let mut frame = Frame::Other;
    let mut r = Reader { bytes, pos: 0 };
    while let Some((field, value)) = r.field()? {
        // The last member of a oneof on the wire wins.
        frame = match (field, value) {
            (2, Value::Bytes(..)) => Frame::Audio,
            (4, Value::Bytes(s, e)) => Frame::Message(message(bytes, s, e)?),
            (5, Value::Bytes(..)) => Frame::Interruption,
            (1 | 3, Value::Bytes(..)) => Frame::Other,
            _ => frame,
        };
    }
    Ok(frame)
}

fn message(bytes: &[u8], start: usize, end: usize) -> Result<(usize, usize), Malformed> {
    let mut r = Reader {
        bytes: bytes.get(..end).ok_or(Malformed)?,
        pos: start,
    };
    let mut data = (start, start);
    while let Some((field, value)) = r.field()? {
        if let (1, Value::Bytes(s, e)) = (field, value) {
            data = (s, e);
        }
    }
    Ok(data)
}

/// An RTVI message (its JSON text) as a `message` frame.
pub fn encode_message(json: &str) -> Vec<u8> {
    let mut inner = Vec::with_capacity(json.len() + 6);
    put_bytes(&mut inner, 1, json.as_bytes());
    let mut out = Vec::with_capacity(inner.len() + 6);
    put_bytes(&mut out, 4, &inner);
    out
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

enum Value {
    Varint,
    /// A length-delimited value: its start and end in the message.
    Bytes(usize, usize),
    Fixed,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or(Malformed)?;
            self.pos += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Malformed)
    }

    /// The next field's number and value; `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Value)>, Malformed> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => {
                self.varint()?;
                Value::Varint
            }
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                let start = self.pos;
                self.skip(len)?;
                Value::Bytes(start, self.pos)
            }
            5 => self.skip(4)?,
            _ => return Err(Malformed),
        };
        Ok(Some((key >> 3, value)))
    }

    fn skip(&mut self, n: usize) -> Result<Value, Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        if end > self.bytes.len() {
            return Err(Malformed);
        }
        self.pos = end;
        Ok(Value::Fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (The worklet's HEADER, agent-rtc-audio.js, for any size.) The bytes of an `audio` frame that come before its PCM, for `pcm_len` bytes of s16le at
    /// `sample_rate` with `channels` channels: the frame is this followed by the PCM, so the shell
    /// sends the samples without copying them into a message built here.
    fn audio_header(pcm_len: usize, sample_rate: u32, channels: u32) -> Vec<u8> {
        let mut fields = Vec::with_capacity(16);
        put_varint(&mut fields, 4 << 3);
        put_varint(&mut fields, u64::from(sample_rate));
        put_varint(&mut fields, 5 << 3);
        put_varint(&mut fields, u64::from(channels));
        // `audio` (field 3) last: its bytes are what follows the header.
        put_varint(&mut fields, (3 << 3) | 2);
        put_varint(&mut fields, pcm_len as u64);
        let mut out = Vec::with_capacity(fields.len() + 8);
        put_varint(&mut out, (2 << 3) | 2);
        put_varint(&mut out, (fields.len() + pcm_len) as u64);
        out.extend_from_slice(&fields);
        out
    }

    fn audio_frame(pcm: &[u8], rate: u32, channels: u32) -> Vec<u8> {
        let mut bytes = audio_header(pcm.len(), rate, channels);
        bytes.extend_from_slice(pcm);
        bytes
    }

    #[test]
    fn the_worklets_capture_header_is_this_encoders() {
        // agent-rtc-audio.js builds its capture frames' header itself (tests/e2e/audio-module
        // checks it against these same bytes): 640 bytes of 16 kHz mono.
        let hex: String = audio_header(640, 16_000, 1)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "12880520807d28011a8005");
    }

    #[test]
    fn an_audio_frame_is_recognised_and_starts_with_the_audio_tag() {
        let pcm: Vec<u8> = (0..640u32).map(|i| (i * 7) as u8).collect();
        let bytes = audio_frame(&pcm, 16000, 1);
        assert_eq!(decode(&bytes), Ok(Frame::Audio));
        assert_eq!(bytes[0], AUDIO_TAG);
    }

    /// The text of a decoded message frame.
    fn text(bytes: &[u8]) -> Option<&str> {
        match decode(bytes) {
            Ok(Frame::Message((s, e))) => std::str::from_utf8(&bytes[s..e]).ok(),
            _ => None,
        }
    }

    #[test]
    fn a_message_frame_round_trips_with_unicode() {
        let json = r#"{"label":"rtvi-ai","type":"client-ready","data":{"t":"é 😀"}}"#;
        assert_eq!(text(&encode_message(json)), Some(json));
    }

    /// Bytes written by Pipecat 1.14's own `ProtobufFrameSerializer` (printed from the pinned
    /// runner's virtualenv): an `OutputAudioRawFrame` (id 42, name, 4 bytes at 24 kHz mono, pts
    /// 150), an `OutputTransportMessageFrame({})`, an `InterruptionFrame` with an id and a
    /// name, and a `TextFrame`.
    #[test]
    fn frames_as_the_python_server_writes_them() {
        let audio = [
            0x12, 0x18, 0x08, 0x2a, 0x12, 0x05, b'a', b'u', b'd', b'i', b'o', 0x1a, 0x04, 1, 2, 3,
            4, 0x20, 0xc0, 0xbb, 0x01, 0x28, 0x01, 0x30, 0x96, 0x01,
        ];
        // Its fields are the worklet's to read (tests/e2e/audio-module: the same bytes).
        assert_eq!(decode(&audio), Ok(Frame::Audio));
        assert_eq!(audio[0], AUDIO_TAG);
        let message = [0x22, 0x04, 0x0a, 0x02, b'{', b'}'];
        assert_eq!(text(&message), Some("{}"));
        let interruption = [0x2a, 0x05, 0x08, 0x07, 0x12, 0x01, b'i'];
        assert_eq!(decode(&interruption), Ok(Frame::Interruption));
        let mut text = vec![0x0a, 0x12, 0x08, 0x04, 0x12, 0x0b];
        text.extend_from_slice(b"TextFrame#0");
        text.extend_from_slice(&[0x1a, 0x01, b'x']);
        assert_eq!(decode(&text), Ok(Frame::Other));
    }

    #[test]
    fn unknown_fields_and_kinds_are_skipped() {
        // Field 9 (varint), field 10 (fixed64), field 11 (fixed32), then a message; an unknown
        // oneof member alone is `Other`.
        let mut bytes = vec![0x48, 0x05, 0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0x5d, 0, 0, 0, 0];
        bytes.extend(encode_message("{}"));
        assert_eq!(text(&bytes), Some("{}"));
        assert_eq!(decode(&[0x32, 0x00]), Ok(Frame::Other));
        assert_eq!(decode(&[]), Ok(Frame::Other));
    }

    #[test]
    fn truncated_or_invalid_bytes_are_malformed_never_a_panic() {
        let good = audio_frame(&[0; 64], 16000, 1);
        for cut in 1..good.len() {
            let _ = decode(&good[..cut]);
        }
        assert_eq!(decode(&[0x12, 0x05, 0x00]), Err(Malformed));
        assert_eq!(decode(&[0x22, 0xff]), Err(Malformed));
        assert_eq!(decode(&[0x0f]), Err(Malformed));
        assert_eq!(decode(&[0x22, 0x02, 0x0a, 0x05]), Err(Malformed));
        let huge_len = [
            0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(decode(&huge_len), Err(Malformed));
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            let _ = decode(&bytes);
        }
    }
}
