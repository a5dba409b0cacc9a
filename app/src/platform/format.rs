//! How numbers, counts and ages read on pages: thousands separators ("12,345"),
//! plurals ("1 alert", "3 alerts") and relative ages ("3 days"), one way everywhere.

/// `n` with a comma between each group of three digits.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `text` with its first letter in capitals ("high" → "High").
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "1 request", "2 requests", "1,204 requests": the plural adds an "s" unless given.
pub fn count(n: i64, one: &str, many: Option<&str>) -> String {
    let word = if n == 1 {
        one.to_string()
    } else {
        many.map(str::to_string)
            .unwrap_or_else(|| format!("{one}s"))
    };
    format!("{} {word}", thousands(n))
}

/// A duration in the largest whole unit that fits: "45 seconds", "3 minutes",
/// "5 hours", "2 days" (never "0 days": under a minute reads "less than a minute").
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => "less than a minute".into(),
        60..=3_599 => count(s / 60, "minute", None),
        3_600..=86_399 => count(s / 3_600, "hour", None),
        _ => count(s / 86_400, "day", None),
    }
}

/// How long something has waited against its allowance: "waiting 3 days (SLA 5 days)",
/// or "waiting 7 days, 2 days past its 5-day SLA".
pub fn waited(since: i64, now: i64, sla_seconds: Option<i64>) -> (String, bool) {
    let waited = now - since;
    match sla_seconds {
        Some(sla) if waited > sla => (
            format!(
                "waiting {}, {} past its SLA of {}",
                duration(waited),
                duration(waited - sla),
                duration(sla)
            ),
            true,
        ),
        Some(sla) => (
            format!("waiting {} (SLA {})", duration(waited), duration(sla)),
            false,
        ),
        None => (format!("waiting {}", duration(waited)), false),
    }
}

/// How far `at` is from `now`, in words: "3 days ago", "in 5 hours", "just now".
pub fn age(at: i64, now: i64) -> String {
    let gap = now - at;
    if gap.abs() < 60 {
        "just now".into()
    } else if gap > 0 {
        format!("{} ago", duration(gap))
    } else {
        format!("in {}", duration(-gap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_plurals_and_ages_read_as_words() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(count(1, "alert", None), "1 alert");
        assert_eq!(count(0, "alert", None), "0 alerts");
        assert_eq!(count(2, "suspension", None), "2 suspensions");
        assert_eq!(count(3, "entry", Some("entries")), "3 entries");
        assert_eq!(duration(30), "less than a minute");
        assert_eq!(duration(61), "1 minute");
        assert_eq!(duration(7_200), "2 hours");
        assert_eq!(duration(3 * 86_400 + 5), "3 days");
        assert_eq!(age(0, 30), "just now");
        assert_eq!(age(0, 3 * 86_400 + 7), "3 days ago");
        assert_eq!(age(5 * 3_600 + 20, 0), "in 5 hours");
        assert_eq!(
            waited(0, 2 * 86_400, Some(5 * 86_400)),
            ("waiting 2 days (SLA 5 days)".to_string(), false)
        );
        assert_eq!(
            waited(0, 7 * 86_400, Some(5 * 86_400)),
            (
                "waiting 7 days, 2 days past its SLA of 5 days".to_string(),
                true
            )
        );
    }
}
