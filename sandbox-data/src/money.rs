//! Money as integer minor units (pence, cents), never floats. The OBIE amount format
//! (`^\d{1,13}$|^\d{1,13}\.\d{1,5}$`) carries no sign: the sign travels separately as
//! `CreditDebitIndicator`.

/// The unsigned amount of `minor` units, with two decimals: `-1234` → `"12.34"`.
pub fn format(minor: i64) -> String {
    let abs = minor.unsigned_abs();
    format!("{}.{:02}", abs / 100, abs % 100)
}

/// `Credit` for money in (or a balance in credit), `Debit` otherwise.
pub fn indicator(minor: i64) -> &'static str {
    if minor >= 0 {
        "Credit"
    } else {
        "Debit"
    }
}

/// Reads a positive OBIE amount with at most two significant decimals ("10", "10.5",
/// "10.50", "10.50000"); anything else, zero included, is `None`.
pub fn parse(text: &str) -> Option<i64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 13 || !digits(whole) || !digits(fraction) {
        return None;
    }
    if text.contains('.') && (fraction.is_empty() || fraction.len() > 5) {
        return None;
    }
    if fraction.bytes().skip(2).any(|b| b != b'0') {
        return None;
    }
    let mut cents = [b'0'; 2];
    for (slot, byte) in cents.iter_mut().zip(fraction.bytes()) {
        *slot = byte;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents = i64::from(cents[0] - b'0') * 10 + i64::from(cents[1] - b'0');
    let minor = whole.checked_mul(100)?.checked_add(cents)?;
    (minor > 0).then_some(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_sign_and_with_two_decimals() {
        assert_eq!(format(0), "0.00");
        assert_eq!(format(5), "0.05");
        assert_eq!(format(-123_456), "1234.56");
        assert_eq!(indicator(-1), "Debit");
        assert_eq!(indicator(0), "Credit");
    }

    #[test]
    fn parses_obie_amounts() {
        assert_eq!(parse("10"), Some(1000));
        assert_eq!(parse("10.5"), Some(1050));
        assert_eq!(parse("10.50000"), Some(1050));
        assert_eq!(parse("0.01"), Some(1));
        for bad in [
            "",
            "0",
            "0.00",
            "-1",
            "1.",
            ".5",
            "1.001",
            "1e3",
            "12345678901234",
            "1.000000",
            "ten",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
