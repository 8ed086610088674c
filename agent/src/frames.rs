//! Pipecat's WebSocket wire format: every binary message is one protobuf `pipecat.Frame`
//! (`pipecat/frames/protobufs/frames.proto`), written and read here by hand, independently of
//! the SDK's own codec, so that the agent catches the SDK's mistakes instead of sharing them.
//!
//! ```text
//! message TextFrame          { uint64 id = 1; string name = 2; string text = 3; }
//! message AudioRawFrame      { uint64 id = 1; string name = 2; bytes audio = 3;
//!                              uint32 sample_rate = 4; uint32 num_channels = 5; optional uint64 pts = 6; }
//! message TranscriptionFrame { uint64 id = 1; string name = 2; string text = 3;
//!                              string user_id = 4; string timestamp = 5; }
//! message MessageFrame       { string data = 1; }
//! message InterruptionFrame  { uint64 id = 1; string name = 2; }
//! message Frame { oneof frame { TextFrame text = 1; AudioRawFrame audio = 2;
//!   TranscriptionFrame transcription = 3; MessageFrame message = 4; InterruptionFrame interruption = 5; } }
//! ```
//!
//! Encoding follows proto3: a scalar at its default (0, empty) is left out, except `pts`, which is
//! `optional` and written whenever it is set; the `oneof` member is always written, even empty.
//! Decoding follows upb, the parser behind Python's protobuf: unknown fields are skipped, a known
//! field with an unexpected wire type is treated as unknown, the last occurrence of a field wins,
//! and a string that is not UTF-8, a truncated field, an over-long varint or a group make the
//! whole frame malformed (`None`: the frame is ignored).

/// One decoded `pipecat.Frame`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text {
        id: u64,
        name: String,
        text: String,
    },
    Audio(Audio),
    Transcription {
        id: u64,
        name: String,
        text: String,
        user_id: String,
        timestamp: String,
    },
    /// A `MessageFrame`: the JSON text of one RTVI (or transport) message.
    Message(String),
    Interruption {
        id: u64,
        name: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audio {
    pub id: u64,
    pub name: String,
    /// 16-bit little-endian PCM, interleaved.
    pub audio: Vec<u8>,
    pub sample_rate: u32,
    pub num_channels: u32,
    pub pts: Option<u64>,
}

// Wire types.
const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

// ---------------------------------------------------------------------------------------------
// Encoding

struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// A proto3 integer field: left out at 0.
    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v);
        }
    }

    /// A proto3 string or bytes field: left out when empty.
    fn bytes(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.len_field(field, v);
        }
    }

    /// A length-delimited field written even when empty (a set `oneof` member).
    fn len_field(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
    }
}

/// The protobuf bytes of `frame`.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut inner = Writer(Vec::new());
    let field = match frame {
        Frame::Text { id, name, text } => {
            inner.uint(1, *id);
            inner.bytes(2, name.as_bytes());
            inner.bytes(3, text.as_bytes());
            1
        }
        Frame::Audio(a) => {
            inner.uint(1, a.id);
            inner.bytes(2, a.name.as_bytes());
            inner.bytes(3, &a.audio);
            inner.uint(4, u64::from(a.sample_rate));
            inner.uint(5, u64::from(a.num_channels));
            if let Some(pts) = a.pts {
                inner.key(6, VARINT);
                inner.varint(pts);
            }
            2
        }
        Frame::Transcription {
            id,
            name,
            text,
            user_id,
            timestamp,
        } => {
            inner.uint(1, *id);
            inner.bytes(2, name.as_bytes());
            inner.bytes(3, text.as_bytes());
            inner.bytes(4, user_id.as_bytes());
            inner.bytes(5, timestamp.as_bytes());
            3
        }
        Frame::Message(data) => {
            inner.bytes(1, data.as_bytes());
            4
        }
        Frame::Interruption { id, name } => {
            inner.uint(1, *id);
            inner.bytes(2, name.as_bytes());
            5
        }
    };
    let mut out = Writer(Vec::with_capacity(inner.0.len() + 6));
    out.len_field(field, &inner.0);
    out.0
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// One field as read off the wire.
enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// A fixed 32- or 64-bit value: never one of ours, skipped.
    Fixed,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit of a 64-bit value.
            if i == 9 && b > 1 {
                return None;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// The next field, `Ok(None)` at the end, `Err(())` when malformed.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, ()> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint().ok_or(())?;
        let number = key >> 3;
        if number == 0 || number > 0x1fff_ffff {
            return Err(());
        }
        let value = match (key & 7) as u8 {
            VARINT => Value::Varint(self.varint().ok_or(())?),
            I64 => {
                self.take(8).ok_or(())?;
                Value::Fixed
            }
            LEN => {
                let n = self.varint().ok_or(())?;
                let n = usize::try_from(n).map_err(|_| ())?;
                Value::Len(self.take(n).ok_or(())?)
            }
            I32 => {
                self.take(4).ok_or(())?;
                Value::Fixed
            }
            // Groups (3, 4) and the unused wire types 6, 7.
            _ => return Err(()),
        };
        Ok(Some((number, value)))
    }
}

fn text(b: &[u8]) -> Result<String, ()> {
    std::str::from_utf8(b).map(String::from).map_err(|_| ())
}

/// The fields of one embedded message: `f(number, value)` for each, in order.
fn fields<'a>(b: &'a [u8], mut f: impl FnMut(u64, Value<'a>) -> Result<(), ()>) -> Result<(), ()> {
    let mut r = Reader(b);
    while let Some((number, value)) = r.field()? {
        f(number, value)?;
    }
    Ok(())
}

fn decode_audio(b: &[u8]) -> Result<Frame, ()> {
    let mut a = Audio::default();
    fields(b, |n, v| {
        match (n, v) {
            (1, Value::Varint(x)) => a.id = x,
            (2, Value::Len(s)) => a.name = text(s)?,
            (3, Value::Len(s)) => a.audio = s.to_vec(),
            // A uint32 read from a wider varint keeps its low 32 bits, as protobuf does.
            (4, Value::Varint(x)) => a.sample_rate = x as u32,
            (5, Value::Varint(x)) => a.num_channels = x as u32,
            (6, Value::Varint(x)) => a.pts = Some(x),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Frame::Audio(a))
}

/// `(id, name, strings 3..)` of the frames made of an id, a name and strings.
fn decode_named(b: &[u8], strings: usize) -> Result<(u64, String, Vec<String>), ()> {
    let mut id = 0;
    let mut name = String::new();
    let mut rest = vec![String::new(); strings];
    fields(b, |n, v| {
        match (n, v) {
            (1, Value::Varint(x)) => id = x,
            (2, Value::Len(s)) => name = text(s)?,
            (n, Value::Len(s)) if n >= 3 && n < 3 + strings as u64 => {
                rest[(n - 3) as usize] = text(s)?;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((id, name, rest))
}

fn decode_member(field: u64, b: &[u8]) -> Result<Frame, ()> {
    Ok(match field {
        1 => {
            let (id, name, mut s) = decode_named(b, 1)?;
            Frame::Text {
                id,
                name,
                text: s.remove(0),
            }
        }
        2 => decode_audio(b)?,
        3 => {
            let (id, name, s) = decode_named(b, 3)?;
            let [text, user_id, timestamp]: [String; 3] = s.try_into().map_err(|_| ())?;
            Frame::Transcription {
                id,
                name,
                text,
                user_id,
                timestamp,
            }
        }
        4 => {
            let mut data = String::new();
            fields(b, |n, v| {
                if let (1, Value::Len(s)) = (n, v) {
                    data = text(s)?;
                }
                Ok(())
            })?;
            Frame::Message(data)
        }
        5 => {
            let (id, name, _) = decode_named(b, 0)?;
            Frame::Interruption { id, name }
        }
        _ => return Err(()),
    })
}

/// The frame in `bytes`; `None` for a malformed message or one with no known frame in it.
pub fn decode(bytes: &[u8]) -> Option<Frame> {
    let mut member: Option<(u64, &[u8])> = None;
    fields(bytes, |n, v| {
        if let (1..=5, Value::Len(b)) = (n, v) {
            // `oneof`: the last member on the wire wins.
            member = Some((n, b));
        }
        Ok(())
    })
    .ok()?;
    let (n, b) = member?;
    decode_member(n, b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Pipecat 1.14's `ProtobufFrameSerializer`.
    const PIPECAT_AUDIO: [u8; 26] = [
        18, 24, 8, 42, 18, 5, 97, 117, 100, 105, 111, 26, 4, 1, 2, 3, 4, 32, 192, 187, 1, 40, 1,
        48, 150, 1,
    ];
    const PIPECAT_MESSAGE: [u8; 6] = [34, 4, 10, 2, 123, 125];
    const PIPECAT_INTERRUPTION: [u8; 7] = [42, 5, 8, 7, 18, 1, 105];

    fn pipecat_audio() -> Frame {
        Frame::Audio(Audio {
            id: 42,
            name: "audio".into(),
            audio: vec![1, 2, 3, 4],
            sample_rate: 24000,
            num_channels: 1,
            pts: Some(150),
        })
    }

    #[test]
    fn pipecat_bytes_both_ways() {
        assert_eq!(decode(&PIPECAT_AUDIO), Some(pipecat_audio()));
        assert_eq!(encode(&pipecat_audio()), PIPECAT_AUDIO);
        let msg = Frame::Message("{}".into());
        assert_eq!(decode(&PIPECAT_MESSAGE), Some(msg.clone()));
        assert_eq!(encode(&msg), PIPECAT_MESSAGE);
        let int = Frame::Interruption {
            id: 7,
            name: "i".into(),
        };
        assert_eq!(decode(&PIPECAT_INTERRUPTION), Some(int.clone()));
        assert_eq!(encode(&int), PIPECAT_INTERRUPTION);
    }

    #[test]
    fn round_trips_and_proto3_defaults() {
        let frames = [
            Frame::Text {
                id: u64::MAX,
                name: "t".into(),
                text: "héllo".into(),
            },
            Frame::Transcription {
                id: 3,
                name: String::new(),
                text: "hi".into(),
                user_id: "u".into(),
                timestamp: "2026-01-01T00:00:00.000+00:00".into(),
            },
            Frame::Message(String::new()),
            Frame::Interruption {
                id: 0,
                name: String::new(),
            },
            Frame::Audio(Audio {
                audio: vec![0; 640],
                sample_rate: 16000,
                num_channels: 1,
                pts: Some(0),
                ..Audio::default()
            }),
        ];
        for f in frames {
            assert_eq!(decode(&encode(&f)), Some(f.clone()), "{f:?}");
        }
        // Defaults are left out; an empty oneof member is still written.
        assert_eq!(encode(&Frame::Message(String::new())), [34, 0]);
        assert_eq!(
            encode(&Frame::Interruption {
                id: 0,
                name: String::new()
            }),
            [42, 0]
        );
        // The SDK's microphone frame: no id, name or pts.
        let mic = encode(&Frame::Audio(Audio {
            audio: vec![0; 640],
            sample_rate: 16000,
            num_channels: 1,
            ..Audio::default()
        }));
        assert_eq!(&mic[..6], [18, 136, 5, 26, 128, 5]);
        assert_eq!(&mic[mic.len() - 5..], [32, 128, 125, 40, 1]);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // Unknown fields of every wire type (varint 6, fixed64 7, length-delimited 9, fixed32
        // 10) around the member at the top level, and inside it (varint 14, fixed32 3).
        let b = [
            48, 1, 57, 0, 0, 0, 0, 0, 0, 0, 0, 74, 1, 0, 85, 0, 0, 0, 0, // before
            34, 11, 10, 2, b'{', b'}', 112, 5, 29, 1, 2, 3, 4, // the member
            48, 2, // after
        ];
        assert_eq!(decode(&b), Some(Frame::Message("{}".into())));
        // A known field with another wire type is treated as unknown (an id sent as bytes).
        assert_eq!(
            decode(&[42, 6, 10, 1, b'x', 18, 1, b'i']),
            Some(Frame::Interruption {
                id: 0,
                name: "i".into()
            })
        );
        // A frame kind from a newer schema only, or nothing at all: nothing to do.
        assert_eq!(decode(&[74, 2, 8, 1]), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn last_member_and_last_field_win() {
        let mut b = PIPECAT_INTERRUPTION.to_vec();
        b.extend_from_slice(&PIPECAT_MESSAGE);
        assert_eq!(decode(&b), Some(Frame::Message("{}".into())));
        // A sample rate written twice (1, then 16000): the second one counts.
        let Some(Frame::Audio(a)) = decode(&[18, 5, 32, 1, 32, 128, 125]) else {
            panic!("an audio frame");
        };
        assert_eq!(a.sample_rate, 16000);
    }

    #[test]
    fn malformed_input_is_ignored_without_panicking() {
        let bad: [&[u8]; 10] = [
            &[18],                 // no length
            &[18, 5, 8],           // shorter than its length
            &[34, 3, 10, 5, b'a'], // inner string overruns
            &[34, 3, 10, 1, 0xff], // not UTF-8
            &[42, 3, 18, 1, 0xc3], // name not UTF-8
            &[34, 2, 11, 12],      // a group
            &[0, 0],               // field number 0
            &[18, 2, 8, 0x80],     // a varint that never ends
            &[
                8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // over 64 bits
            &[
                18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // huge length
        ];
        for b in bad {
            assert_eq!(decode(b), None, "{b:?}");
        }
        // Every prefix of a valid frame, and some noise, decode or not, never panic.
        for n in 0..PIPECAT_AUDIO.len() {
            let _ = decode(&PIPECAT_AUDIO[..n]);
        }
        let mut x: u32 = 0x1234_5678;
        for len in 0..300 {
            let noise: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = decode(&noise);
        }
    }

    #[test]
    fn wide_varints() {
        // The largest u64 takes ten bytes.
        let f = Frame::Text {
            id: u64::MAX,
            name: String::new(),
            text: String::new(),
        };
        let b = encode(&f);
        assert_eq!(
            b,
            [10, 11, 8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1]
        );
        assert_eq!(decode(&b), Some(f));
        // A uint32 read from a wider varint keeps its low 32 bits (2^32 + 16000 → 16000).
        let Some(Frame::Audio(a)) = decode(&[18, 6, 32, 128, 253, 128, 128, 16]) else {
            panic!("an audio frame");
        };
        assert_eq!(a.sample_rate, 16000);
    }
}
