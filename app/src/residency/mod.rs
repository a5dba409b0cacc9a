//! Data residency: the countries a production client may call from. The production
//! request records them, the client carries them (the bank can change them, and set
//! the client to refuse token requests from anywhere else), and, with a MaxMind-format
//! country database configured (`--geoip-db`), the oversight rule `unexpected_origin`
//! flags calls and token requests from other countries. Without a database nothing is
//! looked up and the rule says it is off: a country is never guessed.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// The country database, when one is configured.
pub struct Geo {
    reader: Option<maxminddb::Reader<Vec<u8>>>,
    /// Loopback addresses are looked up as this address (`--geoip-loopback-as`): for
    /// tests and demos on one machine, whose calls all come from 127.0.0.1.
    loopback_as: Option<IpAddr>,
    /// What the database says it is (its type and build date), for the pages.
    pub description: Option<String>,
}

/// A record of a MaxMind GeoIP2/GeoLite2 country database (`country.iso_code`), or of
/// the ip-location-db builds of it (`country_code`).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(default)]
    iso_code: Option<&'a str>,
}

impl Geo {
    /// Opens the database at `path` (none: residency is recorded, not checked). A
    /// database that cannot be read stops the start with the reason.
    pub fn open(path: Option<&Path>, loopback_as: Option<IpAddr>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self {
                reader: None,
                loopback_as,
                description: None,
            });
        };
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| {
            Error::Internal(format!(
                "cannot read the country database {}: {e}",
                path.display()
            ))
        })?;
        if reader.metadata.ip_version == 4 {
            tracing::warn!(
                "the country database {} covers IPv4 only: IPv6 callers have no country",
                path.display()
            );
        }
        let built = crate::platform::time::day(reader.metadata.build_epoch as i64);
        let description = Some(format!("{} (built {built})", reader.metadata.database_type));
        Ok(Self {
            reader: Some(reader),
            loopback_as,
            description,
        })
    }

    pub fn enabled(&self) -> bool {
        self.reader.is_some()
    }

    /// The country (ISO 3166-1 alpha-2) of `ip`; `None` without a database or when the
    /// database does not know the address.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let reader = self.reader.as_ref()?;
        // An IPv4 caller on a dual-stack listener arrives as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        let ip = match self.loopback_as {
            Some(stand_in) if ip.is_loopback() => stand_in,
            _ => ip,
        };
        let found = reader.lookup(ip).ok()?;
        let record: Record = found.decode().ok()??;
        record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code)
            .map(str::to_ascii_uppercase)
    }

    /// The country of an address as text (a request log's source).
    pub fn country_of(&self, address: &str) -> Option<String> {
        address.parse().ok().and_then(|ip| self.country(ip))
    }
}

impl AppState {
    /// The country database (put in the state by `server/src/compose.rs`).
    pub fn geo(&self) -> &Geo {
        self.parts.get::<Geo>()
    }
}

/// The officially assigned ISO 3166-1 alpha-2 codes, and XK (Kosovo), which country
/// databases use although ISO has not assigned it.
const COUNTRY_CODES: [&str; 250] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW", "XK",
];

/// The most countries one client may be given.
pub const MAX_COUNTRIES: usize = 60;

/// Parses a list of ISO 3166-1 alpha-2 codes separated by spaces or commas (`gb, IE`),
/// upper-cased, without repeats. Empty: no constraint.
pub fn parse_countries(input: &str) -> std::result::Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for code in input.split(|c: char| c == ',' || c.is_whitespace()) {
        if code.is_empty() {
            continue;
        }
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(format!(
                "\"{}\" is not a country code: use two-letter ISO 3166 codes such as GB or IE, separated by spaces or commas.",
                code.chars().take(20).collect::<String>()
            ));
        }
        let code = code.to_ascii_uppercase();
        if !COUNTRY_CODES.contains(&code.as_str()) {
            return Err(format!(
                "{code} is not an ISO 3166 country code (the United Kingdom is GB)."
            ));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    if out.len() > MAX_COUNTRIES {
        return Err(format!("At most {MAX_COUNTRIES} countries."));
    }
    Ok(out)
}

/// Why a token request from `address` is refused for a client allowed only `allowed`
/// countries and set to refuse others; `None` when it may go on (no constraint, not
/// set to refuse, no database, or an allowed country). An address the database does
/// not know is refused: it is not in an allowed country.
pub fn refusal(geo: &Geo, allowed: &[String], refuse: bool, address: &str) -> Option<String> {
    if !refuse || allowed.is_empty() || !geo.enabled() {
        return None;
    }
    match geo.country_of(address) {
        Some(country) if allowed.contains(&country) => None,
        Some(country) => Some(format!(
            "Token requests from {country} are outside the countries this client may call from ({}).",
            allowed.join(", ")
        )),
        None => Some(format!(
            "The country of {address} is unknown; this client may call only from {}.",
            allowed.join(", ")
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn country_lists_are_codes_upper_cased_without_repeats() {
        assert_eq!(
            parse_countries("gb, IE ie\tFR").unwrap(),
            vec!["GB", "IE", "FR"]
        );
        assert_eq!(parse_countries("  ").unwrap(), Vec::<String>::new());
        assert!(parse_countries("GBR").is_err());
        assert!(parse_countries("G1").is_err());
        assert!(parse_countries("UK;").is_err());
        assert!(parse_countries("UK").is_err(), "not assigned: GB is");
        assert!(parse_countries("ZZ").is_err());
        assert_eq!(parse_countries("xk").unwrap(), vec!["XK"]);
        assert_eq!(COUNTRY_CODES.len(), 250);
        let many: Vec<String> = (0..61)
            .map(|n| {
                format!(
                    "{}{}",
                    (b'A' + (n / 26) as u8) as char,
                    (b'A' + (n % 26) as u8) as char
                )
            })
            .collect();
        assert!(parse_countries(&many.join(" ")).is_err());
    }

    #[test]
    fn without_a_database_nothing_is_refused_or_guessed() {
        let geo = Geo::open(None, None).unwrap();
        assert!(!geo.enabled());
        assert_eq!(geo.country_of("81.2.69.142"), None);
        assert_eq!(refusal(&geo, &["GB".into()], true, "8.8.8.8"), None);
    }
}
