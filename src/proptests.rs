//! Property tests: every parser that reads data from outside the SDK (start and offer answers,
//! data-channel messages, caller options, ICE servers, URLs, error bodies, stats) fed tens of
//! thousands of seeded random inputs — some fully random, most mutated from valid examples so
//! the `Ok` paths are reached — and checked for what must hold of any input: no panic, an `Ok`
//! that holds what the input held, an `Err` with its code and phase, and no secret of the input
//! in an error. The connection state machine gets random input sequences.
//!
//! A small xorshift generator instead of a property-testing crate: nothing new in the build, and
//! every run is the same run. A failing case prints its seed; `AGENT_RTC_PROP_SEED=<seed>` reruns
//! only that case, `AGENT_RTC_PROP_SCALE=<n>` runs n times as many cases.

use crate::conversation::{interpret, Meaning};
use crate::error::{Error, ErrorCode, Phase, MAX_BODY_EXCERPT};
use crate::json::{Map, Value};
use crate::machine::{self, IceState, Input, Machine, Output, Rtc, Setup, State};
use crate::options::{Credentials, StartRequest, Transport, DEFAULT_TIMEOUT_MS};
use crate::platform::{
    offer_template_from_start_url, resolve_offer_url, validate_agent, Platform,
    SESSION_ID_PLACEHOLDER,
};
use crate::rtvi::{classify, Incoming, RTVI_LABEL};
use crate::session::{parse_ice_servers, parse_ice_servers_strict, StartAnswer};
use crate::signalling::{
    parse_answer, ConnectOptions, DEFAULT_RECONNECT_ATTEMPTS, DEFAULT_RECONNECT_TIMEOUT_MS,
};
use crate::trickle::Candidate;
use crate::url::{encode_segment, HttpUrl};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

// ---------------------------------------------------------------------------------------------
// The generator and the runner.

/// xorshift64: fast, and the same numbers on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn coin(&mut self) -> bool {
        self.one_in(2)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Mixes a case number into a seed (splitmix64's finaliser), so neighbouring cases differ.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `cases` cases of one property, each with its own seed; a failing one is named by it.
fn run(name: &str, cases: u64, mut case: impl FnMut(&mut Rng)) {
    let env = |key: &str| std::env::var(key).ok();
    if let Some(seed) = replaying() {
        let seed = u64::from_str_radix(seed.trim_start_matches("0x"), 16).expect("a hex seed");
        case(&mut Rng::new(seed));
        return;
    }
    let scale: u64 = env("AGENT_RTC_PROP_SCALE").map_or(1, |s| s.parse().expect("a number"));
    let base = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    for i in 0..cases * scale {
        let seed = mix(base ^ i);
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut Rng::new(seed))));
        if let Err(panic) = outcome {
            eprintln!("{name}: case {i} failed; rerun it with AGENT_RTC_PROP_SEED={seed:016x}");
            resume_unwind(panic);
        }
    }
}

/// The seed of the one case to rerun, if one is asked for.
fn replaying() -> Option<String> {
    std::env::var("AGENT_RTC_PROP_SEED").ok()
}

/// One part of a made-up input: mostly a valid one, else an invalid one; and which it is.
fn part<'a>(rng: &mut Rng, valid: &[&'a str], invalid: &[&'a str]) -> (&'a str, bool) {
    if invalid.is_empty() || rng.below(8) != 0 {
        (rng.pick(valid), true)
    } else {
        (rng.pick(invalid), false)
    }
}

/// Asserts that `part` of `total` cases is at least `1 / at_least_one_in`.
/// The counts are printed too (seen with `--nocapture`).
fn assert_share(what: &str, part: u64, total: u64, at_least_one_in: u64) {
    eprintln!("{what}: {part} of {total}");
    if replaying().is_some() {
        return;
    }
    assert!(
        part * at_least_one_in >= total,
        "{what}: only {part} of {total} cases (want at least 1 in {at_least_one_in})"
    );
}

// ---------------------------------------------------------------------------------------------
// Random data.

/// Pieces that make random text likely to hit the parsers' special cases.
const TOKENS: &[&str] = &[
    "http://",
    "https://",
    "HTTPS://",
    "ws://",
    "127.0.0.1",
    "127.0.0.256",
    "localhost",
    ".localhost",
    "[::1]",
    "[",
    "]",
    ":7860",
    ":0",
    ":65535",
    ":65536",
    "stun:",
    "turns:",
    "TURN:",
    "?transport=udp",
    "?transport=tcp",
    SESSION_ID_PLACEHOLDER,
    "/",
    "\\",
    "..",
    "%2F",
    "%",
    "@",
    "#",
    "?",
    ":",
    "agent_",
    "start",
    "sessions",
    "rtvi-ai",
    "answer",
    "signalling",
    "{\"",
    "\":",
    "[1,",
    "null",
    "true",
    " ",
    "\t",
    "\r\n",
    "\0",
    "é",
    "ÿ",
    "–",
    "名前",
    "😀",
    "\u{200B}",
    "\u{FEFF}",
    "\u{7F}",
    "\u{85}",
    "x.example",
    "a",
    "0",
    "-",
    "_",
    "~",
];

/// Object keys the parsers read, so random objects often hold the fields that matter.
const KEYS: &[&str] = &[
    "sessionId",
    "iceConfig",
    "iceServers",
    "urls",
    "username",
    "credential",
    "dailyRoom",
    "dailyToken",
    "token",
    "wsUrl",
    "sdp",
    "type",
    "pc_id",
    "label",
    "message",
    "data",
    "id",
    "text",
    "final",
    "timestamp",
    "error",
    "code",
    "detail",
    "fatal",
    "d",
    "t",
    "function_name",
    "tool_call_id",
    "arguments",
    "args",
    "version",
    "platform",
    "agent",
    "baseUrl",
    "startUrl",
    "offerUrl",
    "apiKey",
    "headers",
    "transport",
    "timeoutMs",
    "body",
    "createDailyRoom",
    "dailyRoomProperties",
    "dailyMeetingTokenProperties",
    "enableDefaultIceServers",
    "requestData",
    "waitForBotReady",
    "reconnect",
    "maxAttempts",
];

/// Types of RTVI messages a bot sends (and some it does not).
const RTVI_KINDS: &[&str] = &[
    "bot-ready",
    "user-transcription",
    "bot-output",
    "bot-tts-text",
    "bot-transcription",
    "user-started-speaking",
    "user-stopped-speaking",
    "bot-started-speaking",
    "bot-stopped-speaking",
    "server-message",
    "metrics",
    "error",
    "server-response",
    "error-response",
    "llm-function-call-in-progress",
    "llm-function-call",
    "bot-llm-text",
    "brand-new-type",
    "",
];

fn random_char(rng: &mut Rng) -> char {
    let code = match rng.below(10) {
        0..=4 => 0x20 + rng.below(0x5F) as u32,
        5 => rng.below(0x20) as u32,
        6 => 0x80 + rng.below(0x80) as u32,
        7 | 8 => 0x100 + rng.below(0xD700) as u32,
        _ => 0x10000 + rng.below(0x100000) as u32,
    };
    char::from_u32(code).unwrap_or('?')
}

/// Random text of up to `parts` tokens and characters.
fn text(rng: &mut Rng, parts: usize) -> String {
    let n = rng.below(parts + 1);
    let mut out = String::new();
    for _ in 0..n {
        if rng.coin() {
            out.push_str(rng.pick(TOKENS));
        } else {
            out.push(random_char(rng));
        }
    }
    out
}

/// Text no random text contains: it stands for a secret, and must never be seen in an error.
const SECRET_MARK: &str = "SECRETMARK";

fn secret(rng: &mut Rng) -> String {
    format!("sk_{SECRET_MARK}{:016x}", rng.next_u64())
}

fn assert_no_secret(what: &str, shown: &str) {
    assert!(
        !shown.contains(SECRET_MARK),
        "{what} shows a secret: {shown}"
    );
}

/// A short identifier-like string (never empty).
fn ident(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
    let n = 1 + rng.below(12);
    (0..n).map(|_| char::from(rng.pick(CHARS))).collect()
}

fn number(rng: &mut Rng) -> f64 {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        100.0,
        101.0,
        65535.0,
        65536.0,
        4_294_967_296.0,
        9_007_199_254_740_993.0,
        1e308,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    match rng.below(4) {
        0 => rng.pick(SPECIAL),
        1 => rng.below(100_000) as f64,
        2 => (rng.below(2_000_001) as f64 - 1_000_000.0) / 1000.0,
        _ => f64::from_bits(rng.next_u64()),
    }
}

fn key(rng: &mut Rng) -> String {
    if rng.one_in(4) {
        text(rng, 6)
    } else {
        rng.pick(KEYS).to_owned()
    }
}

/// A random JSON tree, at most `depth` levels deep.
fn value(rng: &mut Rng, depth: u32) -> Value {
    let kinds = if depth == 0 { 4 } else { 6 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.coin()),
        2 => Value::Number(number(rng)),
        3 => Value::String(text(rng, 12)),
        4 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => Value::Object(
            (0..rng.below(5))
                .map(|_| (key(rng), value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// The same text with a few characters or tokens inserted, removed or replaced.
fn mutate_text(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let at = rng.below(chars.len() + 1);
    let mut out: String = chars[..at].iter().collect();
    let rest = &chars[at..];
    match rng.below(5) {
        0 => {
            out.push_str(rng.pick(TOKENS));
            out.extend(rest);
        }
        1 => {
            out.push(random_char(rng));
            out.extend(rest);
        }
        2 => out.extend(rest.iter().skip(1 + rng.below(3))),
        3 => {
            out.push(random_char(rng));
            out.extend(rest.iter().skip(1));
        }
        _ => return text(rng, 8),
    }
    out
}

/// One random change somewhere in the tree: a node replaced, a string or number changed, a key
/// added, removed or nulled, an item added or removed.
fn mutate(rng: &mut Rng, v: &mut Value, depth: u32) {
    let descend = depth < 6 && rng.below(3) != 0;
    match v {
        Value::Object(map) if descend && !map.is_empty() => {
            let which = rng.below(map.len());
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            mutate(rng, &mut entries[which].1, depth + 1);
            *map = entries.into_iter().collect();
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let which = rng.below(items.len());
            mutate(rng, &mut items[which], depth + 1);
        }
        Value::Object(map) => match rng.below(4) {
            0 => {
                let k = key(rng);
                map.insert(k, value(rng, 2));
            }
            1 if !map.is_empty() => {
                let drop = rng.below(map.len());
                *map = std::mem::take(map)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i != drop)
                    .map(|(_, e)| e)
                    .collect();
            }
            2 if !map.is_empty() => {
                let which = rng.below(map.len());
                *map = std::mem::take(map)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (k, v))| if i == which { (k, Value::Null) } else { (k, v) })
                    .collect();
            }
            _ => *v = value(rng, 2),
        },
        Value::Array(items) => match rng.below(3) {
            0 => items.insert(rng.below(items.len() + 1), value(rng, 2)),
            1 if !items.is_empty() => {
                items.remove(rng.below(items.len()));
            }
            _ => *v = value(rng, 2),
        },
        Value::String(s) if rng.below(4) != 0 => *s = mutate_text(rng, s),
        Value::Number(n) if rng.coin() => *n = number(rng),
        _ => *v = value(rng, 2),
    }
}

/// A valid example with 0 to 3 changes: 0 keeps the example as it is.
fn mutated(rng: &mut Rng, mut v: Value) -> (Value, usize) {
    let changes = rng.below(4);
    for _ in 0..changes {
        mutate(rng, &mut v, 0);
    }
    (v, changes)
}

fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect())
}

/// `key` of an options object, `null` counting as not set (as the options parsers count it).
fn given<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// Equal as JSON values, a NaN equal to a NaN (the parsers pass numbers on as they are).
fn same(a: &Value, b: &Value) -> bool {
    alike(a, b, &|x, y| x == y || (x.is_nan() && y.is_nan()))
}

/// The same shape, keys and other values, with numbers compared by `number`.
fn alike(a: &Value, b: &Value, number: &dyn Fn(f64, f64) -> bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number(*x, *y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| alike(a, b, number))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| alike(v, w, number)))
        }
        _ => a == b,
    }
}

fn assert_same(got: &Value, want: &Value) {
    assert!(same(got, want), "got {got:?}, want {want:?}");
}

/// All an error shows: its `Debug` holds the message and every detail.
fn error_text(e: &Error) -> String {
    format!("{e:?}")
}

/// What an option error must be: `invalid_options`, no phase or status, words, no secret.
fn assert_option_error(e: &Error, input: &Value) {
    assert_eq!(e.code, ErrorCode::InvalidOptions, "{e:?} for {input:?}");
    assert_eq!(
        (e.phase(), e.status, e.retryable),
        (None, None, false),
        "{e:?}"
    );
    assert!(!e.message.is_empty());
    assert_no_secret("an option error", &error_text(e));
}

// ---------------------------------------------------------------------------------------------
// Start answers and ICE servers.

const STUN_URLS: &[&str] = &["stun:127.0.0.1:3478", "STUNS:h.example", "stun:[::1]"];
const TURN_URLS: &[&str] = &[
    "turn:t.example:3478?transport=udp",
    "turns:t.example",
    "TURN:[::1]:5349?transport=tcp",
];

fn valid_ice_server(rng: &mut Rng) -> Value {
    let turn = rng.coin();
    let urls: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| rng.pick(if turn { TURN_URLS } else { STUN_URLS }).into())
        .collect();
    let urls = if urls.len() == 1 && rng.coin() {
        urls[0].clone()
    } else {
        Value::Array(urls)
    };
    let mut pairs = vec![("urls", urls)];
    if turn || rng.coin() {
        pairs.push(("username", ident(rng).into()));
        pairs.push(("credential", secret(rng).into()));
    }
    object(pairs)
}

fn valid_start_answer(rng: &mut Rng) -> Value {
    let mut pairs = vec![("sessionId", Value::String(ident(rng)))];
    if rng.coin() {
        let servers = (0..rng.below(4)).map(|_| valid_ice_server(rng)).collect();
        pairs.push((
            "iceConfig",
            object(vec![("iceServers", Value::Array(servers))]),
        ));
    }
    for k in ["dailyRoom", "dailyToken", "token", "wsUrl"] {
        if rng.one_in(4) {
            pairs.push((k, secret(rng).into()));
        }
    }
    if rng.coin() {
        pairs.push(("extra", value(rng, 2)));
    }
    object(pairs)
}

/// Whether `url` is a STUN/TURN URL in the accepted syntax (read as the spec words it); `Some`
/// says whether it is TURN.
fn scheme_of_ice_url(url: &str) -> Option<bool> {
    let scheme = url.split(':').next()?.to_ascii_lowercase();
    match scheme.as_str() {
        "stun" | "stuns" => Some(false),
        "turn" | "turns" => Some(true),
        _ => None,
    }
}

/// Holds of every ICE server the parsers accept: it is one of the input's entries, unchanged,
/// with STUN/TURN URLs only, and TURN ones with their username and credential.
fn assert_accepted_ice_server(server: &crate::session::IceServer, entry: &Value) {
    let urls: Vec<String> = match entry.get("urls") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        other => panic!("accepted an entry whose urls are {other:?}"),
    };
    assert_eq!(server.urls, urls);
    assert!(!server.urls.is_empty());
    let text = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_owned);
    assert_eq!(server.username, text("username"));
    assert_eq!(server.credential, text("credential"));
    for url in &server.urls {
        let turn = scheme_of_ice_url(url).unwrap_or_else(|| panic!("accepted {url:?}"));
        if turn {
            assert!(server.username.is_some() && server.credential.is_some());
        }
    }
    assert_eq!(
        server
            .to_value()
            .get("urls")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(urls.len())
    );
}

#[test]
fn start_answers() {
    let (mut total, mut ok, mut servers_kept, mut servers_dropped) = (0u64, 0u64, 0u64, 0u64);
    run("start_answers", 15_000, |rng| {
        let (input, changes) = match rng.below(8) {
            0 => (value(rng, 3), 99),
            1 => (
                object(vec![
                    ("sessionId", value(rng, 1)),
                    ("iceConfig", value(rng, 3)),
                ]),
                99,
            ),
            _ => {
                let valid = valid_start_answer(rng);
                mutated(rng, valid)
            }
        };
        let not_json = rng.one_in(50);
        let result = StartAnswer::parse((!not_json).then(|| input.clone()));
        total += 1;
        let session_id = input.get("sessionId").and_then(Value::as_str);
        match result {
            Ok(a) => {
                ok += 1;
                assert!(!not_json);
                assert_eq!(Some(a.session_id.as_str()), session_id);
                assert!(!a.session_id.is_empty());
                assert_same(&a.raw, &input);
                let text = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
                assert_eq!(a.daily_room, text("dailyRoom"));
                assert_eq!(a.daily_token, text("dailyToken"));
                assert_eq!(a.token, text("token"));
                assert_eq!(a.ws_url, text("wsUrl"));
                // The servers kept are the acceptable entries, in their order.
                let entries = input
                    .get("iceConfig")
                    .and_then(|c| c.get("iceServers"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut next = 0;
                for server in &a.ice_servers {
                    let at = entries[next..]
                        .iter()
                        .position(|e| {
                            parse_ice_servers(&Value::Array(vec![e.clone()])).first()
                                == Some(server)
                        })
                        .expect("every server kept comes from an entry");
                    assert_accepted_ice_server(server, &entries[next + at]);
                    next += at + 1;
                }
                servers_kept += a.ice_servers.len() as u64;
                servers_dropped += (entries.len() - a.ice_servers.len()) as u64;
            }
            Err(e) => {
                assert_eq!((e.code, e.phase()), (ErrorCode::BadResponse, Some("start")));
                assert!(e.status.is_none() && !e.retryable);
                assert!(
                    not_json || input.as_object().is_none() || session_id.is_none_or(str::is_empty),
                    "refused an answer with sessionId {session_id:?}: {e:?}"
                );
                assert!(
                    changes != 0 || not_json,
                    "a valid answer was refused: {input:?}"
                );
                assert_no_secret("a start answer error", &error_text(&e));
            }
        }
    });
    assert_share("start answers parsed", ok, total, 3);
    assert_share("start answers refused", total - ok, total, 20);
    assert!(
        replaying().is_some() || (servers_kept > 1000 && servers_dropped > 300),
        "{servers_kept} kept, {servers_dropped} dropped"
    );
}

/// ICE URLs built from parts whose validity is known, so the verdict is checked, not only the
/// absence of a panic: every part must be valid, and a query is for TURN only.
#[test]
fn ice_urls_built_from_known_parts() {
    let (mut total, mut accepted) = (0u64, 0u64);
    run("ice_urls", 20_000, |rng| {
        let (scheme, scheme_ok) = part(
            rng,
            &["stun", "STUNS", "turn", "Turns"],
            &["http", "stunx", "", "tur"],
        );
        let (host, host_ok) = part(
            rng,
            &["h.example", "127.0.0.1", "[::1]", "名前"],
            &["", "a/b", "u@h", "a b"],
        );
        let (port, port_ok) = part(
            rng,
            &["", ":3478", ":1", ":65535"],
            &[":0", ":65536", ":99999", ":x", ":", ":123456"],
        );
        let (query, query_ok) = part(
            rng,
            &["", "", "?transport=udp", "?transport=tcp"],
            &["?transport=sctp", "?x=1", "?"],
        );
        let turn = scheme.to_ascii_lowercase().starts_with("turn");
        let with_creds = rng.coin();
        let url = format!("{scheme}:{host}{port}{query}");
        let expect_ok = scheme_ok
            && host_ok
            && port_ok
            && query_ok
            && (query.is_empty() || turn)
            && (!turn || with_creds);
        let mut entry = vec![("urls", Value::from(url.as_str()))];
        let cred = secret(rng);
        if with_creds {
            entry.push(("username", "u".into()));
            entry.push(("credential", cred.as_str().into()));
        }
        let result = parse_ice_servers_strict(&[object(entry)]);
        total += 1;
        match result {
            Ok(servers) => {
                assert!(expect_ok, "accepted {url:?} (credentials: {with_creds})");
                assert_eq!(servers[0].urls, vec![url.clone()]);
                accepted += 1;
            }
            Err(e) => {
                assert!(!expect_ok, "refused {url:?}: {}", e.message);
                assert_option_error(&e, &Value::Null);
                assert!(e.message.starts_with("`iceServers`"), "{}", e.message);
            }
        }
    });
    assert_share("ICE URLs accepted", accepted, total, 10);
}

#[test]
fn ice_server_lists() {
    let (mut total, mut ok) = (0u64, 0u64);
    run("ice_server_lists", 15_000, |rng| {
        let items: Vec<Value> = (0..rng.below(4))
            .map(|_| {
                if rng.one_in(5) {
                    value(rng, 3)
                } else {
                    let valid = valid_ice_server(rng);
                    mutated(rng, valid).0
                }
            })
            .collect();
        let strict = parse_ice_servers_strict(&items);
        let lenient = parse_ice_servers(&Value::Array(items.clone()));
        total += 1;
        match strict {
            Ok(servers) => {
                ok += 1;
                assert_eq!(servers.len(), items.len());
                assert_eq!(servers, lenient, "the caller's list and the server's agree");
                for (server, entry) in servers.iter().zip(&items) {
                    assert_accepted_ice_server(server, entry);
                }
            }
            Err(e) => {
                assert_option_error(&e, &Value::Array(items.clone()));
                assert!(e.message.starts_with("`iceServers`"), "{}", e.message);
                assert!(
                    lenient.len() < items.len(),
                    "a server's list drops what a caller's refuses"
                );
            }
        }
    });
    assert_share("ICE server lists accepted", ok, total, 4);
}

// ---------------------------------------------------------------------------------------------
// Offer answers.

fn valid_offer_answer(rng: &mut Rng) -> Value {
    let sdp = format!(
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        rng.next_u64(),
        ident(rng),
        secret(rng)
    );
    let mut pairs = vec![
        ("sdp", Value::String(sdp)),
        ("type", "answer".into()),
        ("pc_id", Value::String(ident(rng))),
    ];
    if rng.coin() {
        pairs.push(("extra", value(rng, 2)));
    }
    object(pairs)
}

#[test]
fn offer_answers() {
    let (mut total, mut ok) = (0u64, 0u64);
    run("offer_answers", 20_000, |rng| {
        let (input, changes) = match rng.below(6) {
            0 => (value(rng, 3), 99),
            _ => {
                let valid = valid_offer_answer(rng);
                mutated(rng, valid)
            }
        };
        let not_json = rng.one_in(50);
        let result = parse_answer((!not_json).then_some(&input));
        total += 1;
        let field = |k: &str| {
            input
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let acceptable = !not_json
            && field("sdp").is_some()
            && field("pc_id").is_some()
            && input.str_at("type") == Some("answer");
        match result {
            Ok(answer) => {
                ok += 1;
                assert!(acceptable, "accepted {input:?}");
                assert_eq!(Some(answer.sdp.as_str()), field("sdp"));
                assert_eq!(Some(answer.pc_id.as_str()), field("pc_id"));
            }
            Err(e) => {
                assert!(!acceptable, "refused {input:?}: {e:?}");
                assert!(
                    changes != 0 || not_json,
                    "a valid answer was refused: {input:?}"
                );
                assert_eq!((e.code, e.phase()), (ErrorCode::BadResponse, Some("offer")));
                assert_no_secret("an offer answer error", &error_text(&e));
            }
        }
    });
    assert_share("offer answers accepted", ok, total, 3);
    assert_share("offer answers refused", total - ok, total, 10);
}

// ---------------------------------------------------------------------------------------------
// Data-channel messages.

fn rtvi_data(rng: &mut Rng, kind: &str) -> Value {
    let timestamp = || Value::from("2026-01-02T03:04:05.678+00:00");
    match kind {
        "bot-ready" => object(vec![("version", "2.1.0".into())]),
        "user-transcription" | "bot-output" | "bot-tts-text" | "bot-transcription" => {
            let mut pairs = vec![("text", Value::String(text(rng, 8)))];
            if rng.coin() {
                pairs.push(("final", rng.coin().into()));
            }
            if rng.coin() {
                pairs.push(("timestamp", timestamp()));
            }
            object(pairs)
        }
        "error" => object(vec![
            ("error", Value::String(text(rng, 8))),
            ("fatal", rng.coin().into()),
        ]),
        "server-response" => object(vec![("t", "echo".into()), ("d", value(rng, 2))]),
        "error-response" => object(vec![("error", Value::String(text(rng, 8)))]),
        "llm-function-call-in-progress" | "llm-function-call" => object(vec![
            ("function_name", Value::String(ident(rng))),
            ("tool_call_id", Value::String(ident(rng))),
            (if rng.coin() { "arguments" } else { "args" }, value(rng, 2)),
        ]),
        _ => value(rng, 2),
    }
}

fn valid_rtvi(rng: &mut Rng, kind: &str, id: &str) -> Value {
    let mut pairs = vec![
        ("label", Value::from(RTVI_LABEL)),
        ("type", kind.into()),
        ("id", id.into()),
    ];
    if !rng.one_in(8) {
        pairs.push(("data", rtvi_data(rng, kind)));
    }
    object(pairs)
}

fn valid_signalling(rng: &mut Rng) -> Value {
    let kind = rng.pick(&["renegotiate", "peerLeft", "trackStatus", "other"]);
    object(vec![
        ("type", "signalling".into()),
        ("message", object(vec![("type", kind.into())])),
    ])
}

/// Any message a bot could send: RTVI, signalling, other JSON, mutated or not.
fn channel_message(rng: &mut Rng) -> Value {
    let v = match rng.below(8) {
        0 => value(rng, 3),
        1 => valid_signalling(rng),
        _ => {
            let kind = rng.pick(RTVI_KINDS);
            let id = ident(rng);
            valid_rtvi(rng, kind, &id)
        }
    };
    if rng.coin() {
        mutated(rng, v).0
    } else {
        v
    }
}

/// What `classify` promises: text stays text, and JSON keeps its value whole.
fn assert_classified(text: &str, json: Option<&Value>, incoming: &Incoming) {
    match (json, incoming) {
        (None, Incoming::Text(t)) => assert_eq!(t, text),
        (Some(v), Incoming::Rtvi(kind, got)) => {
            assert_same(got, v);
            assert_eq!(v.str_at("label"), Some(RTVI_LABEL));
            assert_eq!(kind, v.str_at("type").unwrap_or(""));
        }
        (Some(v), Incoming::Signalling(kind, got)) => {
            assert_same(got, v);
            assert_ne!(v.str_at("label"), Some(RTVI_LABEL));
            assert_eq!(v.str_at("type"), Some("signalling"));
            assert_eq!(
                kind,
                v.get("message")
                    .and_then(|m| m.str_at("type"))
                    .unwrap_or("")
            );
        }
        (Some(v), Incoming::Json(got)) => {
            assert_same(got, v);
            assert_ne!(v.str_at("label"), Some(RTVI_LABEL));
            assert_ne!(v.str_at("type"), Some("signalling"));
        }
        (json, other) => panic!("{json:?} classified as {other:?}"),
    }
}

/// What `interpret` promises for one RTVI message: each typed event holds what the message held.
fn assert_meaning(
    kind: &str,
    msg: &Value,
    seen_before: bool,
    seen_after: bool,
    meaning: &Option<Meaning>,
) {
    assert_eq!(seen_after, seen_before || kind == "bot-output", "{kind}");
    let data = msg.get("data").cloned().unwrap_or_default();
    let text = data.str_at("text").unwrap_or("");
    let event = |name: &str| match meaning {
        Some(Meaning::Event(n, arg)) if *n == name => arg.clone(),
        other => panic!("{kind}: expected a {name} event, got {other:?} from {msg:?}"),
    };
    let transcript = |role: &str, final_: bool, timestamp: Option<&Value>| {
        let t = event("transcript");
        assert_eq!(t.str_at("role"), Some(role));
        assert_eq!(t.str_at("text"), Some(text));
        assert_eq!(t.get("final").and_then(Value::as_bool), Some(final_));
        assert_eq!(t.get("timestamp"), timestamp.filter(|v| !v.is_null()));
    };
    match kind {
        "user-transcription" => transcript(
            "user",
            data.get("final").and_then(Value::as_bool).unwrap_or(true),
            data.get("timestamp"),
        ),
        "bot-output" => transcript("bot", true, data.get("timestamp")),
        "bot-tts-text" | "bot-transcription" if seen_before => assert_eq!(meaning, &None),
        "bot-tts-text" => transcript("bot", false, None),
        "bot-transcription" => transcript("bot", true, None),
        "user-started-speaking"
        | "user-stopped-speaking"
        | "bot-started-speaking"
        | "bot-stopped-speaking" => {
            let s = event("speaking");
            assert_eq!(s.str_at("role"), kind.split('-').next());
            assert_eq!(
                s.get("speaking").and_then(Value::as_bool),
                Some(kind.contains("started"))
            );
        }
        "server-message" => assert_same(&event("servermessage"), &data),
        "metrics" => assert_same(&event("metrics"), &data),
        "error" => {
            let e = event("boterror");
            assert_eq!(
                e.str_at("message"),
                Some(data.str_at("error").unwrap_or(""))
            );
            assert_eq!(
                e.get("fatal").and_then(Value::as_bool),
                Some(data.get("fatal").and_then(Value::as_bool).unwrap_or(false))
            );
        }
        "server-response" | "error-response" => match (msg.str_at("id"), meaning) {
            (None, None) => {}
            (Some(id), Some(Meaning::Response(got, result))) => {
                assert_eq!(got, id);
                match result {
                    Ok(d) => {
                        assert_eq!(kind, "server-response");
                        assert_same(d, &data.get("d").cloned().unwrap_or_default());
                    }
                    Err(e) => {
                        assert_eq!((kind, e.code), ("error-response", ErrorCode::BotError));
                        assert_same(e.details.data.as_ref().expect("the bot's data"), &data);
                        if let Some(words) = data.str_at("error") {
                            assert!(e.message.contains(words));
                        }
                    }
                }
            }
            (id, other) => panic!("{kind} with id {id:?} meant {other:?}"),
        },
        "llm-function-call-in-progress" | "llm-function-call" => {
            match (data.str_at("function_name"), meaning) {
                (None, None) => {}
                (Some(name), Some(Meaning::FunctionCall(call))) => {
                    assert_eq!(call.name, name);
                    assert_eq!(call.tool_call_id, data.str_at("tool_call_id").unwrap_or(""));
                    let args = data
                        .get("arguments")
                        .or_else(|| data.get("args"))
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Map::new()));
                    assert_same(&call.arguments, &args);
                }
                (name, other) => panic!("{kind} of {name:?} meant {other:?}"),
            }
        }
        _ => assert_eq!(meaning, &None, "{kind} has no meaning of its own"),
    }
}

fn check_message(text: &str, json: Option<Value>, seen: &mut bool) -> bool {
    let incoming = classify(text.to_owned(), json.clone(), false);
    assert_classified(text, json.as_ref(), &incoming);
    if let Incoming::Rtvi(kind, msg) = &incoming {
        let before = *seen;
        let meaning = interpret(kind, msg, seen);
        assert_meaning(kind, msg, before, *seen, &meaning);
        return meaning.is_some();
    }
    false
}

/// `same`, but numbers only within a few ulps.
fn near(a: &Value, b: &Value) -> bool {
    alike(a, b, &|x, y| {
        x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs()
    })
}

/// The value as JSON carries it: non-finite numbers as `null` (as `JSON.stringify` writes them).
fn finite(v: &Value) -> Value {
    match v {
        Value::Number(n) if !n.is_finite() => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(finite).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), finite(v))).collect())
        }
        other => other.clone(),
    }
}

/// The JSON text the wasm writes itself (`Value::to_text`): serde_json reads it back as the same
/// value, non-finite numbers as `null` (as `JSON.stringify` writes them).
#[test]
fn json_text() {
    let write_float = |n: f64, out: &mut String| out.push_str(&serde_json::to_string(&n).unwrap());
    run("json_text", 20_000, |rng| {
        let v = value(rng, 4);
        let text = v.to_text(&write_float);
        let back = serde_json::from_str::<serde_json::Value>(&text);
        let back = Value::from(back.unwrap_or_else(|e| panic!("{text:?}: {e}")));
        // serde_json's own float reading may be an ulp off (it is not exact by default).
        assert!(near(&back, &finite(&v)), "{text:?} read back as {back:?}");
    });
}

#[test]
fn data_channel_json() {
    let (mut total, mut meant) = (0u64, 0u64);
    run("data_channel_json", 15_000, |rng| {
        // A few messages in a row, so `bot-output` changes how later ones read.
        let mut seen = false;
        for _ in 0..1 + rng.below(3) {
            let msg = channel_message(rng);
            total += 1;
            meant += u64::from(check_message("", Some(msg), &mut seen));
        }
    });
    assert_share("messages with a typed meaning", meant, total, 3);
}

#[test]
fn data_channel_text() {
    let (mut total, mut json) = (0u64, 0u64);
    run("data_channel_text", 15_000, |rng| {
        let text = match rng.below(3) {
            0 => text(rng, 30),
            _ => {
                let printed = serde_json::Value::from(&channel_message(rng)).to_string();
                if rng.coin() {
                    printed
                } else {
                    mutate_text(rng, &printed)
                }
            }
        };
        let parsed = crate::json::parse(&text);
        total += 1;
        json += u64::from(parsed.is_some());
        check_message(&text, parsed, &mut false);
    });
    assert_share("texts that were JSON", json, total, 3);
    assert_share("texts that were not JSON", total - json, total, 5);
}

// ---------------------------------------------------------------------------------------------
// Options.

fn secure_base(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("https://{}.example/v1/public", ident(rng)),
        1 => format!("http://127.0.0.1:{}", 1 + rng.below(65535)),
        2 => "http://localhost:7860/base?fault=x".to_owned(),
        _ => format!("https://[::1]:{}/", 1 + rng.below(65535)),
    }
}

fn headers(rng: &mut Rng) -> Value {
    let names = ["X-Token", "X-Other", "Authorization", "x-test-tag"];
    Value::Object(
        (0..1 + rng.below(3))
            .map(|_| (rng.pick(&names).to_owned(), Value::String(secret(rng))))
            .collect(),
    )
}

fn valid_start_options(rng: &mut Rng) -> Value {
    let platform = rng.pick(&[
        None,
        Some("pipecat-cloud"),
        Some("butter"),
        Some("pipecat-runner"),
    ]);
    let mut pairs: Vec<(&str, Value)> = Vec::new();
    if let Some(p) = platform {
        pairs.push(("platform", p.into()));
    }
    let agent = match platform {
        Some("butter") => Some(format!("agent_{}", ident(rng))),
        Some("pipecat-runner") if rng.coin() => None,
        _ => Some(if rng.one_in(8) {
            "名前".to_owned()
        } else {
            ident(rng)
        }),
    };
    if rng.one_in(4) {
        pairs.push((
            "startUrl",
            format!(
                "{}/{}/start",
                secure_base(rng).trim_end_matches('/'),
                ident(rng)
            )
            .into(),
        ));
    } else {
        pairs.push(("baseUrl", secure_base(rng).into()));
    }
    if let Some(a) = agent {
        pairs.push(("agent", a.into()));
    }
    if rng.one_in(3) {
        pairs.push((
            "offerUrl",
            format!(
                "{}/sessions/{SESSION_ID_PLACEHOLDER}/api/offer",
                secure_base(rng)
            )
            .into(),
        ));
    }
    if rng.coin() {
        pairs.push(("apiKey", secret(rng).into()));
    }
    if rng.coin() {
        pairs.push(("headers", headers(rng)));
    }
    if rng.one_in(3) {
        pairs.push((
            "transport",
            rng.pick(&["webrtc", "daily", "websocket"]).into(),
        ));
    }
    if rng.one_in(3) {
        pairs.push(("timeoutMs", ((1 + rng.below(60_000)) as f64).into()));
    }
    for (k, v) in [
        ("createDailyRoom", Value::Bool(rng.coin())),
        ("dailyRoomProperties", object(vec![("exp", 60u32.into())])),
        ("dailyMeetingTokenProperties", Value::Object(Map::new())),
        ("enableDefaultIceServers", Value::Bool(rng.coin())),
        ("body", value(rng, 2)),
    ] {
        if rng.one_in(4) {
            pairs.push((k, v));
        }
    }
    object(pairs)
}

/// The input's `apiKey` and `headers` as the request must carry them.
fn assert_credentials(c: &Credentials, input: &Value) {
    let key = given(input, "apiKey")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    assert_eq!(c.api_key.as_deref(), key);
    let headers: Vec<(String, String)> = given(input, "headers")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(c.headers, headers);
    for value in c.secrets() {
        assert!(
            crate::options::is_header_value(value),
            "{value:?} cannot be a header value"
        );
    }
    assert_no_secret("credentials' Debug", &format!("{c:?}"));
}

#[test]
fn start_options() {
    let (mut total, mut ok) = (0u64, 0u64);
    run("start_options", 15_000, |rng| {
        let (input, changes) = match rng.below(8) {
            0 => (value(rng, 3), 99),
            _ => {
                let valid = valid_start_options(rng);
                mutated(rng, valid)
            }
        };
        let default_transport = rng.pick(&[None, Some(Transport::Webrtc)]);
        total += 1;
        match StartRequest::from_options(&input, default_transport) {
            Ok(r) => {
                ok += 1;
                let platform = given(&input, "platform").and_then(Value::as_str);
                assert_eq!(
                    Some(r.platform.as_str()),
                    platform.or(Some("pipecat-cloud"))
                );
                // The start URL: secure or loopback, and printed as it parses again.
                assert!(
                    r.start_url.is_secure() || r.start_url.is_loopback(),
                    "{}",
                    r.start_url
                );
                assert_parsed_url("the start URL", &r.start_url);
                match given(&input, "startUrl").and_then(Value::as_str) {
                    Some(s) => assert_eq!(HttpUrl::parse(s, "x").as_ref(), Ok(&r.start_url)),
                    None => {
                        let base = given(&input, "baseUrl")
                            .and_then(Value::as_str)
                            .expect("a base URL");
                        let base = HttpUrl::parse(base, "x").expect("it was accepted");
                        assert_eq!(r.start_url.origin(), base.origin());
                        let agent = given(&input, "agent").and_then(Value::as_str);
                        let path = r.start_url.path();
                        match r.platform {
                            Platform::Butter => assert!(path.ends_with(&format!(
                                "/api/start/{}",
                                encode_segment(agent.unwrap_or_default())
                            ))),
                            _ => assert!(path.ends_with("/start"), "{path}"),
                        }
                        if r.platform == Platform::PipecatCloud {
                            assert!(path.ends_with(&format!(
                                "/{}/start",
                                encode_segment(agent.unwrap_or_default())
                            )));
                        }
                    }
                }
                match (
                    &r.offer_template,
                    given(&input, "offerUrl").and_then(Value::as_str),
                ) {
                    (Some(t), Some(given)) => assert_eq!(t, given),
                    (Some(t), None) => assert!(t.contains(SESSION_ID_PLACEHOLDER), "{t}"),
                    (None, given) => assert!(
                        given.is_none() && offer_template_from_start_url(&r.start_url).is_none()
                    ),
                }
                if let Some(t) = &r.offer_template {
                    let resolved = resolve_offer_url(t, Some("s"));
                    let url = HttpUrl::parse(&resolved, "x").expect("a usable offer URL");
                    assert!(url.is_secure() || url.is_loopback());
                }
                assert_credentials(&r.credentials, &input);
                let transport = given(&input, "transport").and_then(Value::as_str);
                assert_eq!(
                    r.transport.map(Transport::as_str),
                    transport.or(default_transport.map(Transport::as_str))
                );
                // The body holds exactly the pass-through fields that were set, as given.
                let passed = [
                    "createDailyRoom",
                    "dailyRoomProperties",
                    "dailyMeetingTokenProperties",
                    "enableDefaultIceServers",
                    "body",
                ];
                for (k, v) in r.body.iter() {
                    if k == "transport" {
                        assert_eq!(v.as_str(), r.transport.map(Transport::as_str));
                    } else {
                        assert!(passed.contains(&k.as_str()), "{k} in the body");
                        assert_same(v, given(&input, k).expect("set in the input"));
                    }
                }
                for k in passed {
                    assert_eq!(r.body.contains_key(k), given(&input, k).is_some(), "{k}");
                }
                match given(&input, "timeoutMs") {
                    Some(t) => assert_eq!(Some(r.timeout_ms), t.as_f64()),
                    None => assert_eq!(r.timeout_ms, DEFAULT_TIMEOUT_MS),
                }
                assert!(r.timeout_ms.is_finite() && r.timeout_ms > 0.0);
                assert_no_secret("a start request's Debug", &format!("{r:?}"));
            }
            Err(e) => {
                assert_ne!(changes, 0, "valid options were refused: {input:?}: {e:?}");
                assert_option_error(&e, &input);
            }
        }
    });
    assert_share("start options accepted", ok, total, 3);
    assert_share("start options refused", total - ok, total, 10);
}

fn valid_connect_options(rng: &mut Rng) -> Value {
    let mut pairs: Vec<(&str, Value)> = Vec::new();
    if rng.coin() {
        pairs.push((
            "offerUrl",
            format!(
                "{}/sessions/{SESSION_ID_PLACEHOLDER}/api/offer",
                secure_base(rng)
            )
            .into(),
        ));
    }
    if rng.one_in(3) {
        pairs.push(("apiKey", secret(rng).into()));
    }
    if rng.one_in(3) {
        pairs.push(("headers", headers(rng)));
    }
    if rng.one_in(3) {
        pairs.push((
            "iceServers",
            Value::Array((0..rng.below(3)).map(|_| valid_ice_server(rng)).collect()),
        ));
    }
    if rng.one_in(3) {
        pairs.push(("requestData", value(rng, 2)));
    }
    if rng.one_in(3) {
        pairs.push(("waitForBotReady", rng.coin().into()));
    }
    if rng.one_in(3) {
        pairs.push(("timeoutMs", (rng.below(100_000) as f64 + 0.5).into()));
    }
    if rng.one_in(3) {
        let mut r = Vec::new();
        if rng.coin() {
            r.push(("maxAttempts", (rng.below(101) as f64).into()));
        }
        if rng.coin() {
            r.push(("timeoutMs", (1.0 + rng.below(100_000) as f64).into()));
        }
        pairs.push(("reconnect", object(r)));
    }
    object(pairs)
}

#[test]
fn connect_options() {
    let (mut total, mut ok) = (0u64, 0u64);
    run("connect_options", 15_000, |rng| {
        let (input, changes) = match rng.below(8) {
            0 => (value(rng, 3), 99),
            _ => {
                let valid = valid_connect_options(rng);
                mutated(rng, valid)
            }
        };
        total += 1;
        match ConnectOptions::from_options(&input) {
            Ok(o) => {
                ok += 1;
                assert_eq!(
                    o.offer_url.as_deref(),
                    given(&input, "offerUrl").and_then(Value::as_str)
                );
                if let Some(t) = &o.offer_url {
                    assert!(HttpUrl::parse(&resolve_offer_url(t, Some("s")), "x").is_ok());
                }
                let has_creds =
                    given(&input, "apiKey").is_some() || given(&input, "headers").is_some();
                assert_eq!(o.credentials.is_some(), has_creds);
                if let Some(c) = &o.credentials {
                    assert_credentials(c, &input);
                }
                let servers = given(&input, "iceServers").and_then(Value::as_array);
                assert_eq!(o.ice_servers.as_ref().map(Vec::len), servers.map(Vec::len));
                if let (Some(got), Some(entries)) = (&o.ice_servers, servers) {
                    for (server, entry) in got.iter().zip(entries) {
                        assert_accepted_ice_server(server, entry);
                    }
                }
                match (&o.request_data, given(&input, "requestData")) {
                    (Some(got), Some(want)) => assert_same(got, want),
                    (got, want) => assert!(got.is_none() && want.is_none()),
                }
                assert_eq!(
                    o.wait_for_bot_ready,
                    given(&input, "waitForBotReady")
                        .and_then(Value::as_bool)
                        .unwrap_or(true)
                );
                let reconnect = given(&input, "reconnect");
                let number_at = |v: Option<&Value>, k: &str| {
                    v.and_then(|v| given(v, k)).and_then(Value::as_f64)
                };
                assert_eq!(
                    o.timeout_ms,
                    number_at(Some(&input), "timeoutMs").unwrap_or(DEFAULT_TIMEOUT_MS)
                );
                assert_eq!(
                    f64::from(o.reconnect_attempts),
                    number_at(reconnect, "maxAttempts")
                        .unwrap_or(f64::from(DEFAULT_RECONNECT_ATTEMPTS))
                );
                assert!(o.reconnect_attempts <= 100);
                assert_eq!(
                    o.reconnect_timeout_ms,
                    number_at(reconnect, "timeoutMs").unwrap_or(DEFAULT_RECONNECT_TIMEOUT_MS)
                );
                for ms in [o.timeout_ms, o.reconnect_timeout_ms] {
                    assert!(ms.is_finite() && ms > 0.0);
                }
            }
            Err(e) => {
                assert_ne!(changes, 0, "valid options were refused: {input:?}: {e:?}");
                assert_option_error(&e, &input);
            }
        }
    });
    assert_share("connect options accepted", ok, total, 3);
    assert_share("connect options refused", total - ok, total, 10);
}

// ---------------------------------------------------------------------------------------------
// URLs.

/// A URL made of parts whose validity is known; `None` when some part makes it invalid, else
/// whether its host is loopback.
fn url_from_parts(rng: &mut Rng) -> (String, Option<bool>) {
    let (scheme, a) = part(
        rng,
        &["https", "http", "HTTP", "HtTpS"],
        &["ws", "ftp", "", "javascript"],
    );
    let (sep, b) = part(rng, &["://"], &[":", "", ":///", ":\\\\"]);
    let (user, c) = part(rng, &[""], &["user:SECRETMARK@", "@"]);
    let label = ident(rng);
    let hosts: [(&str, Option<bool>); 8] = [
        (&label, Some(false)),
        ("x.example", Some(false)),
        ("127.0.0.1", Some(true)),
        ("127.1.2.3", Some(true)),
        ("LocalHost", Some(true)),
        ("app.localhost", Some(true)),
        ("[::1]", Some(true)),
        ("[2001:DB8::1]", Some(false)),
    ];
    let bad_hosts = ["", "ex%41mple", "名前.example", "[zz]", "[::1", "a_b c"];
    let (host, loopback) = if rng.one_in(8) {
        (rng.pick(&bad_hosts), None)
    } else {
        rng.pick(&hosts)
    };
    let (port, d) = part(
        rng,
        &["", ":", ":80", ":443", ":7860", ":0", ":65535"],
        &[":65536", ":99999", ":12a", ":123456"],
    );
    let (path, e) = part(
        rng,
        &["", "/", "/v1/public", "/a/b/", "/%2F", "/名"],
        &["/a b", "/a\nb"],
    );
    let (query, f) = part(rng, &["", "?x=1", "?", "?a=b&c={sessionId}"], &[]);
    let (frag, g) = part(rng, &["", "#f", "#a?b/c"], &["#a b"]);
    let url = format!("{scheme}{sep}{user}{host}{port}{path}{query}{frag}");
    let valid = a && b && c && d && e && f && g;
    (url, loopback.filter(|_| valid))
}

/// What holds of any URL `HttpUrl::parse` accepted.
fn assert_parsed_url(input: &str, u: &HttpUrl) {
    let printed = u.to_string();
    // Printed, it parses to the same URL (a default port written out is left out).
    let again = HttpUrl::parse(&printed, "x").expect("a printed URL parses");
    assert_eq!(again.to_string(), printed, "{input}");
    assert_eq!(
        (again.host(), again.path(), again.origin()),
        (u.host(), u.path(), u.origin())
    );
    assert!(printed.starts_with("http://") || printed.starts_with("https://"));
    assert_eq!(printed.starts_with("https://"), u.is_secure());
    assert!(printed.starts_with(&u.origin()));
    assert!(!u.host().is_empty() && !u.host().contains(|c: char| c.is_ascii_uppercase()));
    assert!(u.path().starts_with('/'));
    assert!(!printed.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#'));
    assert!(
        !u.origin().contains('@'),
        "credentials never survive: {printed}"
    );
    assert_eq!(
        u.require_secure_or_loopback("x").is_ok(),
        u.is_secure() || u.is_loopback()
    );
}

#[test]
fn http_urls() {
    let (mut total, mut ok) = (0u64, 0u64);
    run("http_urls", 20_000, |rng| {
        let (input, expected) = match rng.below(4) {
            0 => (text(rng, 20), None),
            1 => {
                let (url, _) = url_from_parts(rng);
                (mutate_text(rng, &url), None)
            }
            _ => {
                let (url, loopback) = url_from_parts(rng);
                (url, Some(loopback))
            }
        };
        total += 1;
        match HttpUrl::parse(&input, "baseUrl") {
            Ok(u) => {
                ok += 1;
                assert_parsed_url(&input, &u);
                if let Some(loopback) = expected {
                    assert_eq!(loopback, Some(u.is_loopback()), "{input}");
                }
            }
            Err(e) => {
                if let Some(loopback) = expected {
                    assert_eq!(loopback, None, "refused {input:?}: {}", e.message);
                }
                assert_option_error(&e, &Value::Null);
                assert!(e.message.starts_with("`baseUrl` "), "{}", e.message);
            }
        }
    });
    assert_share("URLs accepted", ok, total, 5);
    assert_share("URLs refused", total - ok, total, 4);
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn assert_one_segment(raw: &str, encoded: &str) {
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "{encoded}"
    );
    assert!(!encoded.contains('/') && encoded != "." && encoded != "..");
    assert_eq!(percent_decode(encoded), raw.as_bytes(), "{raw:?}");
}

/// The start and offer URLs built from a base, an agent and a session id: whatever the agent
/// and the id hold, the URL keeps the base's origin and query and each becomes one segment.
#[test]
fn url_building() {
    let (mut total, mut agents_ok) = (0u64, 0u64);
    run("url_building", 12_000, |rng| {
        let base_text = secure_base(rng);
        let base = HttpUrl::parse(&base_text, "baseUrl").expect("a valid base");
        let platform = rng.pick(&[
            Platform::PipecatCloud,
            Platform::Butter,
            Platform::PipecatRunner,
        ]);
        let agent = match rng.below(3) {
            0 => text(rng, 10),
            1 => {
                let agent = format!("agent_{}", ident(rng));
                mutate_text(rng, &agent)
            }
            _ => format!("agent_{}", ident(rng)),
        };
        total += 1;
        let query = |u: &str| u.split_once('?').map(|(_, q)| q.to_owned());
        match validate_agent(platform, &agent) {
            Ok(()) => {
                agents_ok += 1;
                let encoded = encode_segment(&agent);
                assert_one_segment(&agent, &encoded);
                let start = platform.start_url(&base, Some(&agent));
                assert_parsed_url(&agent, &start);
                assert_eq!(start.origin(), base.origin());
                assert_eq!(query(&start.to_string()), query(&base.to_string()));
                let segments: Vec<&str> = start.path().split('/').collect();
                if platform != Platform::PipecatRunner {
                    assert!(segments.contains(&encoded.as_str()), "{start}");
                }
                let template = platform.offer_template(&base, Some(&agent));
                assert_eq!(
                    template.matches(SESSION_ID_PLACEHOLDER).count(),
                    1,
                    "{template}"
                );
                let id = text(rng, 10);
                let offer = resolve_offer_url(&template, Some(&id));
                let parsed = HttpUrl::parse(&offer, "offerUrl").expect("the offer URL parses");
                assert_eq!(parsed.origin(), base.origin());
                assert_eq!(query(&offer), query(&base.to_string()));
                assert!(!offer.contains(SESSION_ID_PLACEHOLDER));
                let id_segment = encode_segment(&id);
                // "." and ".." are refused by the start answer (`a_session_id_stays_one_path_segment`).
                if id != "." && id != ".." {
                    assert_one_segment(&id, &id_segment);
                }
                assert!(parsed.path().split('/').any(|s| s == id_segment), "{offer}");
                let derived =
                    offer_template_from_start_url(&start).expect("a start URL has a start segment");
                assert!(HttpUrl::parse(&resolve_offer_url(&derived, Some(&id)), "x").is_ok());
            }
            Err(e) => {
                assert_option_error(&e, &Value::Null);
                let plain = !agent.is_empty()
                    && !agent.contains(|c: char| {
                        c.is_whitespace() || c.is_control() || "/\\?#%".contains(c)
                    })
                    && !agent.contains("..")
                    && agent != ".";
                assert!(
                    !plain || (platform == Platform::Butter && !agent.starts_with("agent_")),
                    "refused {agent:?}: {}",
                    e.message
                );
            }
        }
    });
    assert_share("agents accepted", agents_ok, total, 3);
}

/// A session id comes from the server: whatever it holds, the offer URL's path must keep its
/// shape. "." and ".." cannot be encoded out of being path steps (every URL parser, `fetch` too,
/// reads `%2e%2e` as `..`), so the start answer refuses them; everything else stays one segment.
#[test]
fn a_session_id_stays_one_path_segment() {
    for id in [".", ".."] {
        let body = format!(r#"{{"sessionId":"{id}"}}"#);
        let e = crate::session::StartAnswer::parse(crate::json::parse(&body)).expect_err(id);
        assert_eq!(e.code, ErrorCode::BadResponse);
    }
    for id in ["%2e%2e", ".%2E", "...", "a/..", "./"] {
        let offer = resolve_offer_url("https://h.example/sessions/{sessionId}/api/offer", Some(id));
        let steps = offer.split('/').filter(|s| {
            let s = s.to_ascii_lowercase().replace("%2e", ".");
            s == "." || s == ".."
        });
        assert_eq!(steps.count(), 0, "{id:?} gives {offer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Error bodies of non-2xx answers.

#[test]
fn http_error_bodies_never_show_a_secret() {
    run("http_error_bodies", 10_000, |rng| {
        let secrets: Vec<String> = (0..1 + rng.below(3)).map(|_| secret(rng)).collect();
        // A body that echoes the secrets anywhere: in a field, a nested value, a key, the text.
        let mut json = value(rng, 2);
        for s in &secrets {
            let mut holder = object(vec![
                (
                    rng.pick(&["error", "detail", "code", "other"]),
                    Value::String(format!("bad {s}")),
                ),
                (
                    "nested",
                    object(vec![(s.as_str(), Value::Array(vec![s.as_str().into()]))]),
                ),
            ]);
            mutate(rng, &mut holder, 0);
            json = match json {
                Value::Object(mut m) if rng.coin() => {
                    m.insert(key(rng), holder);
                    Value::Object(m)
                }
                _ => holder,
            };
        }
        let as_text = rng.one_in(3);
        let body = if as_text {
            // The secret within the first part of the text that is kept.
            let pad: String = (0..rng.below(MAX_BODY_EXCERPT - 40))
                .map(|_| random_char(rng))
                .collect();
            format!("{pad} {}", secrets[0])
        } else {
            serde_json::Value::from(&json).to_string()
        };
        let parsed = crate::json::parse(&body);
        let status = 100 + rng.below(500) as u16;
        let phase = rng.pick(&[Phase::Start, Phase::Offer, Phase::Call]);
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let e = Error::http(phase, "start", status, &body, parsed.as_ref(), &refs);
        assert_eq!(
            (e.code, e.status, e.details.phase),
            (ErrorCode::Http, Some(status), Some(phase))
        );
        assert_eq!(e.retryable, crate::error::status_is_retryable(status));
        assert!(e
            .message
            .starts_with(&format!("start request failed with HTTP {status}")));
        let shown = error_text(&e);
        for s in &secrets {
            assert!(
                !shown.contains(s.as_str()),
                "an HTTP error shows a secret: {shown}"
            );
        }
        if let Some(excerpt) = &e.details.body {
            assert!(!excerpt.is_empty());
            let fields = ["error", "code", "detail"];
            assert!(parsed
                .as_ref()
                .is_none_or(|v| fields.iter().all(|f| v.get(f).is_none())));
        }
    });
}

/// The excerpt of a non-JSON error body keeps no usable piece of a secret, even one across the
/// `MAX_BODY_EXCERPT` cut (secrets are cut out before the body is).
#[test]
fn an_error_body_excerpt_cuts_no_secret_in_half() {
    run("http_error_body_cut", 500, |rng| {
        let secret = secret(rng);
        // The secret starts before the cut and ends after it, 8 or more of its characters kept.
        let at = MAX_BODY_EXCERPT - 8 - rng.below(secret.len() - 8);
        let body = format!("{}{secret}", "x".repeat(at));
        let e = Error::http(Phase::Start, "start", 500, &body, None, &[&secret]);
        let shown = error_text(&e);
        for piece in secret.as_bytes().windows(8) {
            let piece = std::str::from_utf8(piece).expect("ASCII");
            assert!(
                !shown.contains(piece),
                "{piece} of the secret shown: {shown}"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Stats reports.

#[test]
fn stats_reports() {
    run("stats_reports", 10_000, |rng| {
        let types = [
            "inbound-rtp",
            "outbound-rtp",
            "media-source",
            "transport",
            "candidate-pair",
            "local-candidate",
        ];
        let ids = ["A", "B", "C", "D"];
        let entries: Vec<Value> = (0..rng.below(8))
            .map(|_| {
                let mut pairs = vec![
                    ("id", Value::from(rng.pick(&ids))),
                    ("type", rng.pick(&types).into()),
                ];
                for k in [
                    "kind",
                    "packetsReceived",
                    "packetsLost",
                    "bytesReceived",
                    "packetsSent",
                    "bytesSent",
                    "jitter",
                    "audioLevel",
                    "timestamp",
                    "selectedCandidatePairId",
                    "state",
                    "nominated",
                    "currentRoundTripTime",
                    "localCandidateId",
                    "candidateType",
                ] {
                    if rng.coin() {
                        let v = match k {
                            "kind" => Value::from(rng.pick(&["audio", "video"])),
                            "selectedCandidatePairId" | "localCandidateId" => rng.pick(&ids).into(),
                            "state" => rng.pick(&["succeeded", "failed"]).into(),
                            "nominated" => rng.coin().into(),
                            "candidateType" => rng.pick(&["host", "relay"]).into(),
                            _ => Value::Number(number(rng)),
                        };
                        pairs.push((k, v));
                    }
                }
                let entry = object(pairs);
                if rng.one_in(4) {
                    mutated(rng, entry).0
                } else {
                    entry
                }
            })
            .collect();
        let s = crate::stats::summarize(&entries);
        let numbers = |ty: &str, k: &str| -> Vec<f64> {
            entries
                .iter()
                .filter(|e| e.str_at("type") == Some(ty))
                .filter_map(|e| e.get(k).and_then(Value::as_f64))
                .collect()
        };
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
            (a, b) => a.is_none() && b.is_none(),
        };
        for (got, ty, k) in [
            (s.packets_received, "inbound-rtp", "packetsReceived"),
            (s.packets_sent, "outbound-rtp", "packetsSent"),
            (s.bytes_sent, "outbound-rtp", "bytesSent"),
        ] {
            let n = numbers(ty, k);
            let sum = (!n.is_empty()).then(|| n.iter().fold(0.0, |a, b| a + b));
            assert!(same(got, sum), "{k}: {got:?} vs {sum:?}");
        }
        if let Some(t) = s.candidate_pair_type {
            assert!(entries
                .iter()
                .any(|e| e.str_at("candidateType") == Some(t.as_str())));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The state machine.

fn random_error(rng: &mut Rng) -> Error {
    let codes = [
        ErrorCode::Http,
        ErrorCode::BadResponse,
        ErrorCode::Media,
        ErrorCode::Webrtc,
        ErrorCode::Signalling,
        ErrorCode::Timeout,
    ];
    let e = Error::new(rng.pick(&codes), text(rng, 6));
    if rng.coin() {
        e.with_phase(rng.pick(&[
            Phase::Start,
            Phase::Media,
            Phase::Offer,
            Phase::Ice,
            Phase::Channel,
            Phase::BotReady,
            Phase::Call,
        ]))
    } else {
        e
    }
}

/// Generates the inputs of one run, remembering the request ids it has used.
struct Inputs {
    requests: Vec<String>,
    next_request: u32,
}

impl Inputs {
    fn message(&mut self, rng: &mut Rng) -> Input {
        let v = match rng.below(4) {
            0 if !self.requests.is_empty() => {
                let id = self.requests[rng.below(self.requests.len())].clone();
                let kind = rng.pick(&["server-response", "error-response"]);
                valid_rtvi(rng, kind, &id)
            }
            1 => {
                let id = ident(rng);
                valid_rtvi(rng, "bot-ready", &id)
            }
            _ => channel_message(rng),
        };
        let text = serde_json::Value::from(&v).to_string();
        if rng.one_in(10) {
            let t = mutate_text(rng, &text);
            let parsed = crate::json::parse(&t);
            return Input::Message(classify(t, parsed, false));
        }
        Input::Message(classify(text, Some(v), false))
    }

    fn request(&mut self, rng: &mut Rng) -> Input {
        self.next_request += 1;
        let id = format!("req-{}", self.next_request);
        self.requests.push(id.clone());
        Input::Request {
            id,
            kind: ident(rng),
            data: rng.coin().then(|| value(rng, 2)),
            timeout_ms: rng.pick(&[100.0, 1_000.0, 10_000.0]),
        }
    }

    fn random(&mut self, rng: &mut Rng) -> Input {
        let attempt = rng.below(4) as u32;
        match rng.below(32) {
            22 => Input::Net(crate::recovery::Input::Tick),
            23 => Input::Net(if rng.coin() {
                crate::recovery::Input::Offline
            } else {
                crate::recovery::Input::Online
            }),
            24 | 25 => Input::Net(crate::recovery::Input::Traffic {
                packets: rng.below(400) as u64,
                messages: rng.below(20) as u64,
            }),
            26 => Input::AttemptOffer {
                attempt,
                sdp: text(rng, 4),
            },
            27 => {
                let valid = valid_offer_answer(rng);
                Input::AttemptAnswered {
                    attempt,
                    body: rng.coin().then(|| mutated(rng, valid).0),
                }
            }
            28 => Input::AttemptCandidate {
                attempt,
                candidate: rng.coin().then(|| Candidate {
                    candidate: text(rng, 4),
                    sdp_mid: None,
                    sdp_mline_index: None,
                }),
            },
            29 => Input::AttemptPatchDone { attempt },
            30 => Input::AttemptConnected(attempt),
            31 => Input::AttemptFailed {
                attempt,
                error: random_error(rng),
            },
            0 => Input::Started,
            1 => Input::MediaReady,
            2 => Input::LocalOffer(text(rng, 6)),
            3 => Input::OfferAnswered(if rng.one_in(8) {
                None
            } else {
                let valid = valid_offer_answer(rng);
                Some(mutated(rng, valid).0)
            }),
            4 => Input::RemoteApplied,
            5 => Input::Candidate(rng.coin().then(|| Candidate {
                candidate: if rng.one_in(4) {
                    String::new()
                } else {
                    text(rng, 6)
                },
                sdp_mid: rng.coin().then(|| text(rng, 2)),
                sdp_mline_index: rng.coin().then(|| rng.below(70_000).min(65_535) as u16),
            })),
            6 => Input::PatchDone(if rng.coin() {
                Ok(())
            } else {
                Err(random_error(rng))
            }),
            7 => Input::Ice(IceState::parse(rng.pick(&[
                "new",
                "checking",
                "connected",
                "completed",
                "disconnected",
                "failed",
                "closed",
            ]))),
            8 => Input::ChannelOpen {
                now_ms: number(rng),
            },
            9 => Input::ChannelClosed,
            10 | 11 => self.message(rng),
            12 | 18 => Input::Timeout,
            13 => Input::SetTrack {
                index: rng.pick(&[0, 1, 2, 255]),
                enabled: rng.coin(),
            },
            14 => Input::Aborted,
            15 => Input::Failure(random_error(rng)),
            16 => Input::SendFailed(random_error(rng)),
            17 => self.request(rng),
            19 => Input::FunctionDone {
                call: crate::conversation::FunctionCall {
                    name: ident(rng),
                    tool_call_id: ident(rng),
                    arguments: value(rng, 1),
                },
                result: value(rng, 2),
            },
            20 => Input::FunctionMissing(text(rng, 6)),
            _ => Input::Disconnect,
        }
    }

    /// The inputs of a call that goes well, in order: start, media, offer, answer, candidates,
    /// ICE, channel, bot-ready, a request and its answer, a renegotiation, messages, disconnect.
    fn happy_path(&mut self, rng: &mut Rng, starting: bool) -> Vec<Input> {
        let mut steps = Vec::new();
        if starting {
            steps.push(Input::Started);
        }
        steps.push(Input::LocalOffer("v=0 offer".into()));
        steps.push(Input::MediaReady);
        steps.push(Input::OfferAnswered(Some(valid_offer_answer(rng))));
        for i in 0..rng.below(4) {
            steps.push(Input::Candidate(Some(Candidate {
                candidate: format!("candidate:{i}"),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            })));
        }
        steps.push(Input::RemoteApplied);
        steps.push(Input::PatchDone(Ok(())));
        steps.push(Input::Candidate(None));
        steps.push(Input::Ice(IceState::Checking));
        steps.push(Input::Ice(IceState::Connected));
        steps.push(Input::ChannelOpen { now_ms: 1000.0 });
        let id = ident(rng);
        steps.push(Input::Message(classify(
            String::new(),
            Some(valid_rtvi(rng, "bot-ready", &id)),
            false,
        )));
        let request = self.request(rng);
        let Input::Request { id, .. } = &request else {
            unreachable!()
        };
        let kind = rng.pick(&["server-response", "error-response"]);
        let answer = valid_rtvi(rng, kind, id);
        steps.push(request);
        steps.push(Input::Message(classify(String::new(), Some(answer), false)));
        steps.push(Input::Message(classify(
            String::new(),
            Some(valid_signalling(rng)),
            false,
        )));
        steps.push(Input::LocalOffer("v=0 offer 2".into()));
        steps.push(Input::OfferAnswered(Some(valid_offer_answer(rng))));
        steps.push(Input::RemoteApplied);
        for _ in 0..rng.below(4) {
            steps.push(self.message(rng));
        }
        if rng.coin() {
            steps.push(self.request(rng));
        }
        if rng.coin() {
            steps.push(Input::Disconnect);
        }
        steps
    }
}

/// What one run of the machine must show, whatever it was fed.
#[derive(Default)]
struct Watch {
    closed: bool,
    settled: bool,
    connected: bool,
    channel_opened: bool,
    started: bool,
    media_ready: bool,
    state: Option<State>,
    /// Request ids the machine took while its channel was open, not yet settled.
    waiting: Vec<String>,
    settled_ids: Vec<String>,
    inputs: u64,
    now: f64,
}

fn assert_error_has_phase(e: &Error, what: &str) {
    assert!(e.phase().is_some(), "{what} without a phase: {e:?}");
}

impl Watch {
    fn step(&mut self, m: &mut Machine, input: Input, starting: bool) {
        self.inputs += 1;
        let before_open = m.is_channel_open();
        match &input {
            Input::Started => self.started = true,
            Input::MediaReady => self.media_ready = true,
            Input::ChannelOpen { .. } => self.channel_opened = true,
            Input::Request { id, .. } if before_open => self.waiting.push(id.clone()),
            _ => {}
        }
        let answered_sdp = match &input {
            Input::OfferAnswered(Some(v)) => v.str_at("sdp").map(str::to_owned),
            _ => None,
        };
        // 0.7 s between inputs: the reconnect policy's timers (1.5 s, 4 s, 10 s) come due.
        self.now += 700.0;
        let out = m.handle_at(input, self.now);
        if self.closed {
            assert!(out.is_empty(), "output after Close: {out:?}");
            return;
        }
        for (i, o) in out.iter().enumerate() {
            match o {
                Output::Close(_) => {
                    assert!(!self.closed, "closed twice");
                    assert_eq!(i, out.len() - 1, "Close is the last output: {out:?}");
                    self.closed = true;
                }
                Output::Connected | Output::ConnectFailed(_) => {
                    assert!(!self.settled, "the connect call settled twice: {out:?}");
                    self.settled = true;
                    if let Output::ConnectFailed(e) = o {
                        assert_error_has_phase(e, "a connect failure");
                    } else {
                        assert!(self.channel_opened, "connected without an open channel");
                        self.connected = true;
                    }
                }
                Output::Emit(machine::Event::Error(e)) => {
                    assert_error_has_phase(e, "an error event")
                }
                Output::Settle { id, result } => {
                    assert!(!self.settled_ids.contains(id), "{id} settled twice");
                    self.settled_ids.push(id.clone());
                    self.waiting.retain(|w| w != id);
                    if let Err(e) = result {
                        // The bot's own `error-response` carries its data but no phase: a gap
                        // noted on issue 10.
                        if e.code != ErrorCode::BotError {
                            assert_error_has_phase(e, "a request's error");
                        }
                    }
                }
                Output::State(s) => {
                    assert_ne!(Some(*s), self.state, "a state repeated");
                    self.state = Some(*s);
                }
                Output::Rtc(Rtc::PostOffer(body)) => {
                    assert!(
                        self.media_ready && (self.started || !starting),
                        "an offer posted early"
                    );
                    assert_eq!(body.str_at("type"), Some("offer"));
                }
                Output::Rtc(Rtc::SetRemote(sdp)) => assert_eq!(Some(sdp), answered_sdp.as_ref()),
                Output::Send(_) => assert!(self.channel_opened, "sent before the channel opened"),
                Output::SendText(t) => {
                    assert!(self.channel_opened && t.starts_with("ping: "), "{t}");
                    assert!(
                        t["ping: ".len()..].bytes().all(|b| b.is_ascii_digit()),
                        "{t}"
                    );
                }
                _ => {}
            }
        }
        if self.closed {
            assert!(m.is_closed() && !m.is_channel_open());
            assert!(
                matches!(m.state(), State::Disconnected | State::Failed),
                "{:?}",
                m.state()
            );
            assert!(
                self.waiting.is_empty(),
                "requests left unsettled at Close: {:?}",
                self.waiting
            );
        }
    }
}

#[test]
fn machine_survives_any_input_sequence() {
    let (mut runs, mut connected, mut closed, mut inputs_fed) = (0u64, 0u64, 0u64, 0u64);
    run("machine", 5_000, |rng| {
        let starting = rng.coin();
        let mut m = Machine::new(Setup {
            starting,
            wait_for_bot_ready: rng.coin(),
            socket: rng.coin(),
            tracks: [rng.coin(), rng.coin()],
            request_data: rng.coin().then(|| value(rng, 2)),
            seed: rng.next_u64(),
            reconnect: crate::recovery::Config::new(
                rng.below(4) as u32,
                [1.0, 3_000.0, 30_000.0][rng.below(3)],
                rng.next_u64(),
            ),
            now_ms: 0.0,
            timeout_ms: rng.pick(&[1_000.0, 5_000.0, 30_000.0]),
            ice_limit_ms: rng.coin().then(|| rng.pick(&[10.0, 4_000.0])),
        });
        let mut gen = Inputs {
            requests: Vec::new(),
            next_request: 0,
        };
        let inputs: Vec<Input> = if rng.one_in(4) {
            (0..rng.below(30)).map(|_| gen.random(rng)).collect()
        } else {
            // The happy path with random inputs slipped in, steps dropped and neighbours swapped.
            let mut steps = Vec::new();
            for step in gen.happy_path(rng, starting) {
                if rng.one_in(12) {
                    steps.push(gen.random(rng));
                }
                if !rng.one_in(25) {
                    steps.push(step);
                }
            }
            if steps.len() > 1 && rng.one_in(4) {
                let i = rng.below(steps.len() - 1);
                steps.swap(i, i + 1);
            }
            steps
        };
        // A data channel opens once: the browser fires its `open` event once.
        let mut opened = false;
        let inputs = inputs.into_iter().filter(|i| {
            !matches!(i, Input::ChannelOpen { .. }) || !std::mem::replace(&mut opened, true)
        });
        let mut watch = Watch {
            state: Some(State::Connecting),
            ..Watch::default()
        };
        for input in inputs {
            watch.step(&mut m, input, starting);
        }
        // Whatever happened, a disconnect ends it; after that, nothing.
        watch.step(&mut m, Input::Disconnect, starting);
        assert!(watch.closed && watch.settled);
        let after = gen.random(rng);
        assert!(m.handle(after).is_empty());
        runs += 1;
        inputs_fed += watch.inputs;
        connected += u64::from(watch.connected);
        closed += u64::from(m.is_closed());
    });
    assert_eq!(closed, runs);
    eprintln!("machine: {inputs_fed} inputs in {runs} runs");
    assert_share("runs that connected", connected, runs, 3);
}
