//! `application/x-www-form-urlencoded` decoding, for query strings and form
//! bodies (Tornado's `get_argument` reads both).

pub fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding with `+` as space; invalid escapes are kept as written
/// and invalid UTF-8 is replaced, never an error.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs() {
        let p = parse_urlencoded("nickname=bob+x&password=s%C3%A9cret%21&empty=&flag&bad=%zz%");
        assert_eq!(p[0], ("nickname".into(), "bob x".into()));
        assert_eq!(p[1], ("password".into(), "sécret!".into()));
        assert_eq!(p[2], ("empty".into(), "".into()));
        assert_eq!(p[3], ("flag".into(), "".into()));
        assert_eq!(p[4], ("bad".into(), "%zz%".into()));
    }
}
