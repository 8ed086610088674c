//! The JSON values the core reads and builds. Deliberately small: no text parser here (in the
//! browser, text goes through the browser's own `JSON.parse`, which `web` walks), and a printer
//! that writes everything but fractional numbers itself: those it hands to the caller (the
//! browser's own number formatting, in the wasm), so the wasm carries no float code. Printing
//! here saves a value sent or emitted its walk across to JS, one property at a time. Objects
//! keep their keys in order, as JS does.

/// A JSON value. Numbers are `f64`, as in JS.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON object: keys in insertion order, each at most once.
#[derive(Clone, Debug, Default)]
pub struct Map(Vec<(String, Value)>);

/// Objects are equal when they hold the same keys and values, in any order (as in JSON).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Map {
    pub fn new() -> Map {
        Map(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, replacing an earlier value in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.put(key.into(), value.into())
    }

    /// `insert` without the conversions: one copy of the search whatever the callers pass.
    pub fn put(&mut self, key: String, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Map {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

/// An object from `(key, value)` pairs: `obj([("type", "offer".into()), ...])`.
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    obj_from(&mut pairs.into_iter())
}

/// One copy of `obj`'s loop for every `N`.
fn obj_from(pairs: &mut dyn Iterator<Item = (&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.put(k.to_owned(), v);
    }
    Value::Object(map)
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `self[key]` as a string, for the many "what type is this message" checks.
    pub fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// JSON text, as `JSON.stringify` writes it: whole numbers up to 2^53 written here, other
    /// finite ones by `float` (which must write them as JS does), non-finite ones as `null`.
    pub fn to_text(&self, float: &dyn Fn(f64, &mut String)) -> String {
        let mut out = String::new();
        self.write(&mut out, float);
        out
    }

    fn write(&self, out: &mut String, float: &dyn Fn(f64, &mut String)) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) if !n.is_finite() => out.push_str("null"),
            Value::Number(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0 => {
                if *n < 0.0 {
                    out.push('-');
                }
                push_decimal(out, n.abs() as u64);
            }
            Value::Number(n) => float(*n, out),
            Value::String(s) => write_string(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out, float);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, k);
                    out.push(':');
                    v.write(out, float);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string as `JSON.stringify` writes it: `"` and `\` escaped, control characters as
/// `\b \f \n \r \t` or `\u00XX`, everything else as it is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                out.push_str("\\u00");
                out.push(hex_digit(u32::from(c) >> 4));
                out.push(hex_digit(u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The lowercase hex digit of `n`'s low four bits.
pub fn hex_digit(n: u32) -> char {
    char::from(b"0123456789abcdef"[(n & 15) as usize])
}

/// `n` in decimal: integers are never formatted by `core::fmt` in the wasm (its integer
/// Display and padding code cost about 1.4 KB raw).
pub fn decimal(n: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, n);
    out
}

/// Digits of `n`, without the formatting machinery.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Number(n.into())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(m)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}

/// Native tests check wire JSON with `serde_json` (a dev-dependency only: it is not in the wasm).
#[cfg(test)]
mod serde_bridge {
    use super::*;

    impl From<serde_json::Value> for Value {
        fn from(v: serde_json::Value) -> Value {
            match v {
                serde_json::Value::Null => Value::Null,
                serde_json::Value::Bool(b) => Value::Bool(b),
                serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
                serde_json::Value::String(s) => Value::String(s),
                serde_json::Value::Array(a) => {
                    Value::Array(a.into_iter().map(Value::from).collect())
                }
                serde_json::Value::Object(o) => {
                    Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
                }
            }
        }
    }

    impl From<&Value> for serde_json::Value {
        fn from(v: &Value) -> serde_json::Value {
            match v {
                Value::Null => serde_json::Value::Null,
                Value::Bool(b) => (*b).into(),
                // Whole numbers as integers, so `json!(1)` compares equal.
                Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                    serde_json::Value::from(*n as i64)
                }
                Value::Number(n) => serde_json::Value::from(*n),
                Value::String(s) => s.clone().into(),
                Value::Array(a) => a.iter().map(serde_json::Value::from).collect(),
                Value::Object(m) => serde_json::Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::from(v)))
                        .collect(),
                ),
            }
        }
    }

    impl PartialEq<serde_json::Value> for Value {
        #[allow(clippy::cmp_owned)]
        fn eq(&self, other: &serde_json::Value) -> bool {
            serde_json::Value::from(self) == *other
        }
    }

    impl PartialEq<&str> for Value {
        fn eq(&self, other: &&str) -> bool {
            self.as_str() == Some(*other)
        }
    }

    /// `value["key"]` in tests, `Null` when absent.
    impl std::ops::Index<&str> for Value {
        type Output = Value;
        fn index(&self, key: &str) -> &Value {
            static NULL: Value = Value::Null;
            self.get(key).unwrap_or(&NULL)
        }
    }

    impl std::ops::Index<usize> for Value {
        type Output = Value;
        fn index(&self, i: usize) -> &Value {
            static NULL: Value = Value::Null;
            self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
        }
    }

    impl std::fmt::Display for Value {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", serde_json::Value::from(self))
        }
    }
}

#[cfg(test)]
/// Parses JSON text (tests only).
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_keep_order_and_replace_in_place() {
        let mut m = Map::new();
        m.insert("b", 1u32);
        m.insert("a", "x");
        m.insert("b", true);
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(Value::Object(m), json!({"b": true, "a": "x"}));
        assert_eq!(
            obj([("n", Value::Null), ("o", None::<String>.into())]),
            json!({"n": null, "o": null})
        );
    }

    /// What `JSON.stringify` writes, with serde_json's shortest float text standing in for the
    /// browser's number formatting (the same for the fractional values here).
    fn text(v: &Value) -> String {
        v.to_text(&|n, out| out.push_str(&serde_json::to_string(&n).unwrap()))
    }

    #[test]
    fn text_is_what_json_stringify_writes() {
        let source = r#"{"s":"a\"b\\c\n\r\t\b\f\u0001\u001f é 😀 \u2028 </","n":[0,-1,42,1.5,-0.25,9007199254740992,-9007199254740992],"b":[true,false,null],"o":{"k":{}},"e":[]}"#;
        let v = parse(source).unwrap();
        let t = text(&v);
        // As JSON.stringify: only `"`, `\` and control characters escaped (U+2028 and `/` not).
        assert_eq!(
            t,
            "{\"b\":[true,false,null],\"e\":[],\"n\":[0,-1,42,1.5,-0.25,9007199254740992,-9007199254740992],\"o\":{\"k\":{}},\"s\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f é 😀 \u{2028} </\"}"
        );
        // It reads back as the same value; keys keep the value's order (the test parser sorts).
        assert_eq!(parse(&t).unwrap(), v);
        let ordered = obj([("z", 1u32.into()), ("a", Value::Null)]);
        assert_eq!(text(&ordered), r#"{"z":1,"a":null}"#);
        // Whole numbers up to 2^53 are written here, the others handed over; -0 as 0 and
        // non-finite ones as null, as JSON.stringify does.
        let calls = std::cell::Cell::new(0);
        let count = |_: f64, out: &mut String| {
            calls.set(calls.get() + 1);
            out.push('f')
        };
        let nums = [
            -0.0,
            3.0,
            2f64.powi(53),
            2f64.powi(53) + 2.0,
            0.5,
            f64::NAN,
            f64::INFINITY,
        ];
        let nums = Value::Array(nums.map(Value::Number).to_vec());
        assert_eq!(nums.to_text(&count), "[0,3,9007199254740992,f,f,null,null]");
        assert_eq!(calls.get(), 2, "only 2^53+2 and 0.5 go to the float writer");
    }

    #[test]
    fn accessors() {
        let v = parse(r#"{"s":"t","n":1.5,"b":false,"a":[1],"o":{"k":null}}"#).unwrap();
        assert_eq!(v.str_at("s"), Some("t"));
        assert_eq!(v.get("n").and_then(Value::as_f64), Some(1.5));
        assert_eq!(v.get("b").and_then(Value::as_bool), Some(false));
        assert_eq!(v["a"][0], json!(1));
        assert!(v["o"]["k"].is_null() && v["missing"].is_null());
        assert_eq!(
            ["s", "n", "b", "a", "o"].map(|k| v[k].kind()),
            ["a string", "a number", "a boolean", "an array", "an object"]
        );
        assert_eq!(parse("nope"), None);
    }
}
