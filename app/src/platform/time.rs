//! Time helpers. Times are UTC seconds since the epoch in the database.

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The clock the authorization server reads. Tests move it forward to expire tokens
/// without waiting; in production the offset stays zero.
#[derive(Debug, Default)]
pub struct Clock {
    offset: std::sync::atomic::AtomicI64,
}

impl Clock {
    pub fn now(&self) -> i64 {
        now() + self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn advance(&self, seconds: i64) {
        self.offset
            .fetch_add(seconds, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `2026-11-21 14:03 UTC`, for pages and e-mails.
pub fn display(ts: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ts.to_string())
}

tokio::task_local! {
    /// The application clock's reading when the page's request arrived: pages say
    /// how long ago (or how soon) a time is against it, one reading per page.
    static PAGE_NOW: i64;
}

/// Runs `page` (a request to a page) with the application clock's reading, so
/// [`when`] can give relative ages. Set once per page request by the router.
pub async fn with_page_clock<F: std::future::Future>(now: i64, page: F) -> F::Output {
    PAGE_NOW.scope(now, page).await
}

/// A time as pages show it: `2026-11-21 14:03 UTC (3 days ago)`, the relative part
/// read against the application clock of the page's request (absent outside one).
pub fn when(ts: i64) -> String {
    match PAGE_NOW.try_with(|now| *now) {
        Ok(now) => format!("{} ({})", display(ts), super::format::age(ts, now)),
        Err(_) => display(ts),
    }
}

/// `YYYY-MM-DD` (UTC) of a time, as notices and date fields write it.
pub fn day(ts: i64) -> String {
    rfc3339(ts).chars().take(10).collect()
}

/// RFC 3339, for exports.
pub fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

/// Parses `YYYY-MM-DD` (as a date input sends it) to the start of that day, UTC.
pub fn parse_date(value: &str) -> Option<i64> {
    parse_day(value).map(|d| d.midnight().assume_utc().unix_timestamp())
}

/// Parses `YYYY-MM-DD` (what a date input sends), or `DD/MM/YYYY` as people in the
/// UK write it where a browser shows a text box, to a calendar date; impossible
/// dates (2026-02-30) are refused.
pub fn parse_day(value: &str) -> Option<time::Date> {
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let uk = time::macros::format_description!("[day]/[month]/[year]");
    time::Date::parse(value, &iso)
        .or_else(|_| time::Date::parse(value, &uk))
        .ok()
}

/// The value a native date input shows: the date in ISO form when `value` is one in
/// either accepted form, else `value` as typed (the browser then shows it empty and
/// the error says why).
pub fn date_input_value(value: &str) -> String {
    parse_day(value.trim()).map_or_else(|| value.to_string(), iso_day)
}

/// A date as it is stored and shown: `YYYY-MM-DD`.
pub fn iso_day(day: time::Date) -> String {
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&iso).unwrap_or_default()
}
