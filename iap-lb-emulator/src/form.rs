//! `application/x-www-form-urlencoded` bodies and queries, decoded by hand (small, no new
//! dependency): the sign-in form, securetoken's refresh form.

/// Decodes a form body or query into (name, value) pairs, `+` as space, `%XX` escapes; a bad
/// escape is kept as written.
pub fn parse(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of `name`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_percent_decoded() {
        assert_eq!(
            parse(b"grant_type=refresh_token&refresh_token=a%2Bb+c&x=%zz&y"),
            vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), "a+b c".to_string()),
                ("x".to_string(), "%zz".to_string()),
                ("y".to_string(), String::new()),
            ]
        );
        assert_eq!(parse(b"a=%41%"), vec![("a".to_string(), "A%".to_string())]);
    }

    #[test]
    fn encoding_round_trips() {
        let s = "https://iap.googleapis.com/v1/oauth/clientIds/x:handleRedirect?a=b c";
        assert_eq!(parse(format!("k={}", encode(s)).as_bytes())[0].1, s);
    }
}
