//! Substring search by a plain byte scan. `str::find` / `contains` / `replace` with a `&str`
//! pattern bring in core's two-way searcher (about 2.8 KB of wasm); the texts searched here are
//! URLs, ids and error messages, where a scan is as fast. Results are the same as std's.

/// The byte index of the first occurrence of `needle` in `hay` (`Some(0)` for an empty needle).
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    // A match of valid UTF-8 in valid UTF-8 always starts and ends on char boundaries.
    (0..=h.len() - n.len()).find(|&i| h[i..].starts_with(n))
}

pub fn contains(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// `hay` split around the first `needle`.
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let i = find(hay, needle)?;
    Some((hay.get(..i)?, hay.get(i + needle.len()..)?))
}

/// `hay` split around the last `byte`, an ASCII byte (`str::rsplit_once` with a char pattern is a
/// reverse char searcher of its own in the wasm).
pub fn rsplit_once_ascii(hay: &str, byte: u8) -> Option<(&str, &str)> {
    let i = hay.bytes().rposition(|b| b == byte)?;
    Some((hay.get(..i)?, hay.get(i + 1..)?))
}

/// Every non-overlapping occurrence of `needle`, left to right, replaced by `with`; an empty
/// needle matches before every char and at the end, as `str::replace` does.
pub fn replace(hay: &str, needle: &str, with: &str) -> String {
    let mut out = String::with_capacity(hay.len());
    if needle.is_empty() {
        for c in hay.chars() {
            out.push_str(with);
            out.push(c);
        }
        out.push_str(with);
        return out;
    }
    let mut rest = hay;
    while let Some((before, after)) = split_once(rest, needle) {
        out.push_str(before);
        out.push_str(with);
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_std() {
        let cases = [
            ("", ""),
            ("", "a"),
            ("a", ""),
            ("aaa", "aa"),
            ("abcabc", "bc"),
            ("héllo wörld", "ö"),
            ("x://y://z", "://"),
            ("{sessionId}/offer/{sessionId}", "{sessionId}"),
            ("abc", "abcd"),
            ("ééé", "é"),
        ];
        for (hay, needle) in cases {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
            assert_eq!(contains(hay, needle), hay.contains(needle));
            assert_eq!(split_once(hay, needle), hay.split_once(needle));
            assert_eq!(replace(hay, needle, "<r>"), hay.replace(needle, "<r>"));
        }
        for hay in [
            "",
            ":",
            "a:b:c",
            "[::1]:80",
            "héllo:wörld",
            "no colon",
            "é:",
        ] {
            assert_eq!(
                rsplit_once_ascii(hay, b':'),
                hay.rsplit_once(':'),
                "{hay:?}"
            );
        }
    }
}
