//! Input rules for accounts. Pure functions, so they are unit-tested here and used
//! by the handlers; each returns the message the user sees.

pub const MAX_NAME: usize = 200;
pub const MAX_EMAIL: usize = 254;
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

/// Normalises and checks an e-mail address (lower-cased, trimmed).
pub fn email(value: &str) -> Result<String, &'static str> {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        return Err("Enter an e-mail address");
    }
    if value.len() > MAX_EMAIL {
        return Err("E-mail address must be 254 characters or fewer");
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err("Enter an e-mail address in the correct format, like name@example.com");
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>' && c != '"');
    if !domain_ok || !local_ok {
        return Err("Enter an e-mail address in the correct format, like name@example.com");
    }
    Ok(value)
}

/// A required single-line text of at most `max` characters.
pub fn text(value: &str, max: usize, empty: &'static str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(empty.into());
    }
    if value.chars().count() > max {
        return Err(format!("Must be {max} characters or fewer"));
    }
    if value.chars().any(char::is_control) {
        return Err("Must not contain control characters".into());
    }
    Ok(value.to_string())
}

/// The password policy of NIST SP 800-63B §5.1.1.2: a minimum length, a generous
/// maximum, no composition rules, and not a commonly used or context-specific password.
pub fn password(value: &str, context: &[&str]) -> Result<(), &'static str> {
    let length = value.chars().count();
    if length == 0 {
        return Err("Enter a password");
    }
    if length < PASSWORD_MIN {
        return Err("Password must be 12 characters or more");
    }
    if length > PASSWORD_MAX {
        return Err("Password must be 128 characters or fewer");
    }
    let lower = value.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let chars: Vec<char> = lower.chars().collect();
    // The password itself and its stem (trailing digits and punctuation removed) are
    // both compared with the list: `password2024!` and `123456789012` alike.
    if is_patterned(&chars) || is_common(&lower) || is_common(stem) {
        return Err(
            "This password is too common: choose a longer phrase that others would not guess",
        );
    }
    for word in context {
        let word = word.trim().to_lowercase();
        if word.len() >= 4 && lower.contains(&word) {
            return Err("Password must not contain your name, e-mail address or organisation");
        }
    }
    Ok(())
}

/// Repetitive or sequential (NIST SP 800-63B §5.1.1.2): a repetition of a shorter
/// block (`123123123123`, `abababababab`), or a run of repeated or consecutive
/// characters, up or down (digits wrap, so `7890` is a run), that is six long or
/// makes up half the password.
fn is_patterned(chars: &[char]) -> bool {
    let n = chars.len();
    let periodic =
        (1..=n / 2).any(|p| n.is_multiple_of(p) && (p..n).all(|i| chars[i] == chars[i - p]));
    let step = |a: char, b: char| -> i64 {
        let (a, b) = (a as i64, b as i64);
        let d = b - a;
        // Digits wrap around: 9 → 0 continues an ascending run, 0 → 9 a descending one.
        let digits = (0x30..=0x39).contains(&a) && (0x30..=0x39).contains(&b);
        match d {
            -9 if digits => 1,
            9 if digits => -1,
            d => d,
        }
    };
    let mut longest = 1;
    let (mut run, mut direction) = (1, None::<i64>);
    for w in chars.windows(2) {
        let d = step(w[0], w[1]);
        if matches!(d, -1..=1) && direction.is_none_or(|dir| dir == d) {
            run += 1;
            direction = Some(d);
        } else if matches!(d, -1..=1) {
            run = 2;
            direction = Some(d);
        } else {
            run = 1;
            direction = None;
        }
        longest = longest.max(run);
    }
    periodic || longest >= 6 || longest * 2 >= n
}

fn is_common(candidate: &str) -> bool {
    !candidate.is_empty()
        && COMMON_PASSWORDS
            .lines()
            .any(|line| line.trim() == candidate)
}

/// Frequently used passwords (lower-cased), from public breach-frequency lists.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country(value: &str) -> Result<String, &'static str> {
    let value = value.trim().to_uppercase();
    if value.is_empty() {
        return Err("Enter the country of registration");
    }
    if value.len() == 2 && COUNTRIES.split_whitespace().any(|c| c == value) {
        Ok(value)
    } else {
        Err("Enter the country as a two-letter ISO 3166 code, like GB")
    }
}

const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER \
    ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM \
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF \
    MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK \
    PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD \
    TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// An organisation's website: an absolute http(s) URL with a host.
pub fn website(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the organisation's website");
    }
    if value.len() > MAX_NAME {
        return Err("Website must be 200 characters or fewer");
    }
    let lower = value.to_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host)
            if host.contains('.') && !host.contains(['@', ' ']) && !host.starts_with('.') =>
        {
            Ok(value.to_string())
        }
        _ => Err("Enter the website as a full address, like https://example.com"),
    }
}

/// A Legal Entity Identifier (ISO 17442): 20 characters, the last two check digits
/// computed with ISO 7064 MOD 97-10, as for IBANs.
pub fn lei(value: &str) -> Result<Option<String>, &'static str> {
    let value = value.trim().to_uppercase();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() != 20 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("An LEI is 20 letters and digits");
    }
    if !value[18..].chars().all(|c| c.is_ascii_digit()) {
        return Err("An LEI ends with two check digits");
    }
    let mut remainder: u32 = 0;
    for c in value.chars() {
        let digits = c.to_digit(36).unwrap_or(0);
        remainder = if digits >= 10 {
            (remainder * 100 + digits) % 97
        } else {
            (remainder * 10 + digits) % 97
        };
    }
    if remainder == 1 {
        Ok(Some(value))
    } else {
        Err("This LEI's check digits are wrong: check it against your LEI certificate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lei_check_digits() {
        // Published LEIs (GLEIF): the check digits must hold.
        assert_eq!(
            lei("5493001KJTIIGC8Y1R12"),
            Ok(Some("5493001KJTIIGC8Y1R12".into()))
        );
        assert_eq!(lei("7ZW8QJWVPR4P1J1KQY45").map(|l| l.is_some()), Ok(true));
        assert!(lei("5493001KJTIIGC8Y1R13").is_err());
        assert!(lei("5493001KJTIIGC8Y1R1").is_err());
        assert_eq!(lei("  "), Ok(None));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email(" Ada@Example.COM "), Ok("ada@example.com".into()));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@exa mple.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_follow_nist_not_composition_rules() {
        assert!(password("tidal ferret oboe lantern", &[]).is_ok());
        assert!(password("correct horse battery staple", &[]).is_err());
        assert!(password("alllowercaseletters", &[]).is_ok());
        assert_eq!(
            password("short", &[]),
            Err("Password must be 12 characters or more")
        );
        assert!(password("password1234", &[]).is_err());
        assert!(password("qwertyuiop123", &[]).is_err());
        assert!(password("aaaaaaaaaaaaaa", &[]).is_err());
        assert!(password("abcdefghijklm", &[]).is_err());
        // Issue 19 item 11: all-digit passwords whose stem is empty.
        assert!(password("123456789012", &[]).is_err());
        assert!(password("123123123123", &[]).is_err());
        assert!(password("098765432109", &[]).is_err());
        assert!(password("abababababab", &[]).is_err());
        assert!(password("lantern123456", &[]).is_err());
        assert!(password("749201836455", &[]).is_ok());
        assert!(password("grey otter 1987 kettle", &[]).is_ok());
        assert!(password("my acme budgeting pass", &["acme"]).is_err());
        assert!(password(&"x".repeat(129), &[]).is_err());
    }

    #[test]
    fn countries_and_websites() {
        assert_eq!(country("gb"), Ok("GB".into()));
        assert!(country("UK").is_err());
        assert!(website("https://acme.example.com/about").is_ok());
        assert!(website("acme.example.com").is_err());
        assert!(website("javascript:alert(1)").is_err());
    }
}
