//! The bot's guess at whether the user is speaking, from what each Opus packet says about
//! itself: the RTP audio-level header extension (RFC 6464) when the client sends it, as
//! Chromium does, else the payload size (silence encodes to a few bytes, sound to tens).
//! Raw PCM (the WebSocket transport) is judged by its RMS level against the same -50 dBov.

use std::time::{Duration, Instant};

/// Louder than this (dBov, 0 is full scale, -127 silence) counts as voice.
const VOICE_LEVEL_DBOV: i8 = -50;
/// Without a level, a payload at least this long counts as sound.
const VOICE_PAYLOAD_BYTES: usize = 40;
/// Silence this long after voice ends the utterance.
pub const HANGOVER: Duration = Duration::from_millis(300);

pub fn is_voiced(audio_level: Option<i8>, payload_len: usize) -> bool {
    match audio_level {
        Some(level) => level >= VOICE_LEVEL_DBOV,
        None => payload_len >= VOICE_PAYLOAD_BYTES,
    }
}

/// RMS at -50 dBov of a 16-bit full scale (32768 · 10^(-50/20) ≈ 103.6): the level above which
/// PCM counts as voice, the threshold the Opus path uses. Digital silence and quiet noise stay
/// below it; Chromium's fake microphone (a beep near -10 dBov) is far above.
const VOICE_RMS: f64 = 103.6;

/// Whether one frame of 16-bit little-endian PCM (any channel count) is voice: its RMS over
/// every sample is above [`VOICE_RMS`]. An odd trailing byte is ignored; no samples is silence.
pub fn is_voiced_pcm(pcm: &[u8]) -> bool {
    let samples = pcm.chunks_exact(2);
    let n = samples.len();
    if n == 0 {
        return false;
    }
    let sum: f64 = samples
        .map(|s| f64::from(i16::from_le_bytes([s[0], s[1]])).powi(2))
        .sum();
    (sum / n as f64).sqrt() > VOICE_RMS
}

/// What one packet (or the passing of time) changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Started,
    /// The utterance ended; it lasted this long (first to last voiced packet).
    Stopped(Duration),
}

#[derive(Debug, Default)]
pub struct Vad {
    /// First and last voiced packet of the utterance in progress.
    speaking: Option<(Instant, Instant)>,
}

impl Vad {
    /// One packet's worth of audio. Call [`Vad::poll`] first, so an utterance whose hangover
    /// passed before this packet is ended before the next one starts.
    pub fn on_packet(&mut self, now: Instant, voiced: bool) -> Option<Change> {
        if !voiced {
            return None;
        }
        match &mut self.speaking {
            Some((_, last)) => {
                *last = now;
                None
            }
            None => {
                self.speaking = Some((now, now));
                Some(Change::Started)
            }
        }
    }

    /// Ends the utterance once the hangover has passed without voice.
    pub fn poll(&mut self, now: Instant) -> Option<Change> {
        let (first, last) = self.speaking?;
        if now < last + HANGOVER {
            return None;
        }
        self.speaking = None;
        Some(Change::Stopped(last - first))
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.speaking.map(|(_, last)| last + HANGOVER)
    }

    pub fn is_speaking(&self) -> bool {
        self.speaking.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_wins_over_size() {
        assert!(is_voiced(Some(-20), 3));
        assert!(is_voiced(Some(-50), 3));
        assert!(!is_voiced(Some(-51), 200));
        assert!(!is_voiced(Some(-127), 200));
        assert!(is_voiced(None, 80));
        assert!(!is_voiced(None, 3));
    }

    #[test]
    fn pcm_levels() {
        let pcm = |f: &dyn Fn(usize) -> i16| -> Vec<u8> {
            (0..320).flat_map(|i| f(i).to_le_bytes()).collect()
        };
        assert!(!is_voiced_pcm(&[]));
        assert!(!is_voiced_pcm(&[0x7f]), "half a sample");
        assert!(!is_voiced_pcm(&pcm(&|_| 0)), "digital silence");
        assert!(
            !is_voiced_pcm(&pcm(&|i| if i % 2 == 0 { 60 } else { -60 })),
            "noise at -55 dBov"
        );
        assert!(!is_voiced_pcm(&pcm(&|_| 103)));
        assert!(is_voiced_pcm(&pcm(&|_| -104)));
        // A 440 Hz beep at -10 dBov peak, as a fake microphone makes.
        let beep = pcm(&|i| {
            (10_362.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 16_000.0).sin()) as i16
        });
        assert!(is_voiced_pcm(&beep));
        // One full-scale sample in 640 bytes is enough (RMS ≈ 1832).
        let mut click = pcm(&|_| 0);
        click[0..2].copy_from_slice(&i16::MIN.to_le_bytes());
        assert!(is_voiced_pcm(&click));
    }

    #[test]
    fn utterance_with_hangover() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut v = Vad::default();
        assert_eq!(v.on_packet(ms(0), false), None);
        assert_eq!(v.on_packet(ms(20), true), Some(Change::Started));
        assert_eq!(v.on_packet(ms(40), true), None);
        assert_eq!(v.on_packet(ms(60), false), None);
        assert_eq!(v.deadline(), Some(ms(340)));
        assert_eq!(v.poll(ms(339)), None);
        assert!(v.is_speaking());
        assert_eq!(
            v.poll(ms(340)),
            Some(Change::Stopped(Duration::from_millis(20)))
        );
        assert!(!v.is_speaking());
        assert_eq!(v.poll(ms(400)), None);
        // Voice within the hangover continues the utterance.
        assert_eq!(v.on_packet(ms(500), true), Some(Change::Started));
        assert_eq!(v.on_packet(ms(700), true), None);
        // A late packet: polling first closes the utterance it missed, then it starts the next.
        assert_eq!(
            v.poll(ms(1200)),
            Some(Change::Stopped(Duration::from_millis(200)))
        );
        assert_eq!(v.on_packet(ms(1200), true), Some(Change::Started));
    }
}
