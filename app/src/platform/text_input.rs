//! What text the portal accepts at all, checked once for every form and JSON body
//! before any handler sees it (issue 19 item 4): valid UTF-8, never repaired into
//! U+FFFD, and no control characters other than tab, line feed and carriage return
//! (the line breaks browsers send from a text area). Handlers' own validators still
//! refuse line breaks where a field is a single line.

/// Why a body was refused: the field (when known) and what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub field: Option<String>,
    pub problem: String,
}

/// A control character that no text field accepts (C0 other than tab, LF and CR,
/// DEL, and the C1 controls).
pub fn forbidden_control(text: &str) -> Option<char> {
    text.chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn check_text(field: Option<&str>, bytes: &[u8]) -> Result<(), Refused> {
    let refused = |problem: String| Refused {
        field: field.map(str::to_string),
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| refused("is not valid UTF-8 text".into()))?;
    if let Some(c) = forbidden_control(text) {
        return Err(refused(format!(
            "contains a control character (U+{:04X}); remove it and try again",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Checks an `application/x-www-form-urlencoded` body: every name and value,
/// percent-decoded (`+` is a space), is acceptable text.
pub fn check_form(body: &[u8]) -> Result<(), Refused> {
    check_text(None, body)?;
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode(name);
        check_text(None, &name)?;
        let name = String::from_utf8_lossy(&name).into_owned();
        check_text(Some(&name), &decode(value))?;
    }
    Ok(())
}

/// Checks a JSON body: valid UTF-8 (serde would refuse it anyway) and no string,
/// key or value, holding a forbidden control character (JSON can carry them escaped).
pub fn check_json(body: &[u8]) -> Result<(), Refused> {
    check_text(None, body)?;
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        // Not JSON: the handler's own parser gives its error.
        return Ok(());
    };
    fn walk(field: Option<&str>, value: &serde_json::Value) -> Result<(), Refused> {
        match value {
            serde_json::Value::String(s) => check_text(field, s.as_bytes()),
            serde_json::Value::Array(items) => items.iter().try_for_each(|v| walk(field, v)),
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                check_text(None, k.as_bytes())?;
                walk(Some(k), v)
            }),
            _ => Ok(()),
        }
    }
    walk(None, &value)
}

/// Percent-decoding of one form component (WHATWG URL §5.1), without any UTF-8
/// interpretation: malformed escapes stay as they are.
fn decode(component: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(component.len());
    let mut i = 0;
    while i < component.len() {
        match component[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < component.len() => {
                match (hex(component[i + 1]), hex(component[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forms_refuse_controls_and_invalid_utf8() {
        assert!(check_form(b"name=Acme+Ltd&address=1+High+St%0D%0ALondon%09UK").is_ok());
        assert!(check_form("name=Caf%C3%A9&x=%E2%82%AC".as_bytes()).is_ok());
        let refused = check_form(b"name=ok&purpose=a%00b").unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("purpose"));
        assert!(refused.problem.contains("U+0000"));
        assert!(check_form(b"purpose=%1B%5B31m").is_err());
        assert!(check_form(b"purpose=%07").is_err());
        assert!(check_form(b"purpose=%7F").is_err());
        assert!(check_form(b"purpose=%C2%85").is_err(), "C1 control NEL");
        let refused = check_form(b"purpose=%FF%FE").unwrap_err();
        assert!(refused.problem.contains("UTF-8"));
        assert!(check_form(b"pur%00pose=x").is_err());
        assert!(check_form(b"a=%").is_ok() && check_form(b"a=%4").is_ok());
    }

    #[test]
    fn json_refuses_escaped_controls() {
        assert!(check_json(br#"{"name":"ok","list":["a\nb"]}"#).is_ok());
        let refused = check_json(br#"{"name":"a\u0000b"}"#).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("name"));
        assert!(check_json(b"{\"name\":\"\xff\"}").is_err());
    }
}
