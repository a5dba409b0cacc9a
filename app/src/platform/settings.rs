//! Run-time settings of the application core. The server binary builds them from its
//! command line (`gatehouse --help` is the reference); tests build them directly.

use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The external base URL: links in e-mails, cookie security, the CSRF origin check.
    pub public_url: url::Url,
    /// Where the SQLite file, the secret key file and uploads live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means the SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Seed and print demo accounts.
    pub demo: bool,
    /// SMTP relay URL for lettre (`smtp://host:25`, `smtps://user:pass@host`); when
    /// absent, e-mails are kept in the built-in mailbox page instead.
    pub smtp_url: Option<String>,
    /// The From: address of every e-mail.
    pub mail_from: String,
    /// Master secret (hex, 32 bytes). `None` means a key file generated in `data_dir`.
    pub secret_key: Option<String>,
    /// E-mail of the first bank admin created on a fresh, non-demo installation.
    pub admin_email: String,
    /// A signed-in session ends after this much inactivity.
    pub session_idle_minutes: i64,
    /// A signed-in session ends this long after sign-in, however active.
    pub session_absolute_hours: i64,
    /// Sign-in attempts (password or second factor) allowed per client address and minute.
    pub signin_attempts_per_minute: u32,
    /// How often this instance beats, in seconds (5; tests lengthen it to see what the
    /// `NOTIFY` hint does alone). Must stay well under `instances::GONE_AFTER` (20).
    pub instance_beat_seconds: u64,
    /// Each instance counts the rate limits in process even on PostgreSQL
    /// (`--rate-limits local`): N instances then allow N times every limit.
    pub local_rate_limits: bool,
    /// Sign-ups (new organisations) allowed per client address and hour.
    pub signups_per_hour: u32,
    /// Password-reset requests allowed per client address and hour.
    pub reset_requests_per_hour: u32,
    /// Lifetime of the access tokens the sandbox authorization server issues, in seconds.
    pub access_token_seconds: i64,
    /// Lifetime of the production issuer's access tokens, in seconds. A credential's
    /// own expiry (bounded by the tier's conditions) only ever shortens it.
    pub production_access_token_seconds: i64,
    /// Lifetime of a new sandbox credential (client secret or key), in days.
    pub sandbox_credential_days: i64,
    /// The signature algorithm of new signing keys: ES256, PS256 or EdDSA.
    pub signing_alg: String,
    /// The highest per-client rate limit (requests per minute) a partner may choose for a sandbox app.
    pub sandbox_max_rate_limit: u32,
    /// The external base URL of the mTLS listener (RFC 8705 endpoint aliases), when one runs.
    pub mtls_public_url: Option<url::Url>,
    /// Whether the mTLS listener validates client chains against partner CAs the bank
    /// configured (`--mtls-client-ca`): only then is `tls_client_auth` by subject DN
    /// (RFC 8705 §2.1) offered.
    pub mtls_partner_ca: bool,
    /// Addresses of load balancers whose `X-Forwarded-For` / `Forwarded` headers are
    /// believed (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// argon2id computations allowed at once (each takes 19 MiB).
    pub password_hash_concurrency: usize,
    /// Where signed audit checkpoints are appended (`None`: `audit-checkpoints.jsonl`
    /// in `data_dir`). Put it where the database's writers cannot write.
    pub audit_checkpoint_file: Option<std::path::PathBuf>,
    /// How often the head is checkpointed, when it moved, in seconds.
    pub audit_checkpoint_seconds: i64,
    /// Where onboarding evidence files are stored: `None` means the `evidence` folder
    /// in `data_dir`; otherwise an object-store URL (`s3://bucket/prefix`, with the
    /// `AWS_*` environment variables for credentials, region and endpoint).
    pub evidence_store_url: Option<String>,
    /// Options of the S3-compatible store over those of the `AWS_*` environment
    /// (`aws_endpoint`, `aws_access_key_id`, …: object_store's `AmazonS3ConfigKey`
    /// names), for an installation that configures it in code (and for the tests).
    pub evidence_store_options: Vec<(String, String)>,
    /// The largest evidence file accepted, in bytes.
    pub evidence_max_bytes: usize,
    /// The `aud` of production access tokens: the bank's API gateway. `None` means
    /// `<public URL>/production/open-banking/v3.1`.
    pub production_audience: Option<String>,
    /// How long clients, token state, consents and payments are served from the
    /// in-process cache, in milliseconds (0: never). Changes made by this process empty
    /// it at once; on PostgreSQL, other instances are told through LISTEN/NOTIFY.
    pub state_cache_ms: u64,
    /// How many identities an offboarding ends per database transaction.
    pub offboarding_batch: usize,
    /// A pause between an offboarding's transactions, in milliseconds, so a large
    /// offboarding never holds the database's writers up for long.
    pub offboarding_pause_ms: u64,
    /// Days the raw request log is kept (never fewer than sandbox readiness reads).
    pub request_log_days: i64,
    /// Days the per-minute usage buckets are kept.
    pub usage_minute_days: i64,
    /// Days the per-hour usage buckets are kept.
    pub usage_hour_days: i64,
    /// The bearer token `/metrics` asks for. `None`: `/metrics` is not served on the
    /// public listener (only on `--metrics-listen`, when one is configured).
    pub metrics_token: Option<String>,
    /// Socket addresses outbound requests (webhooks) may reach although they are not
    /// public, e.g. an internal relay. Empty by default: only public addresses.
    pub outbound_allow: Vec<std::net::SocketAddr>,
    /// A PEM file of extra root certificates trusted by outbound https requests.
    pub outbound_ca_file: Option<PathBuf>,
    /// A webhook endpoint failing this many days without one success is disabled.
    pub webhook_disable_days: i64,
    /// Whether this instance delivers webhooks (off: it only serves requests, and
    /// other instances deliver what it queues).
    pub deliver_webhooks: bool,
    /// A MaxMind-format country database (GeoLite2/GeoIP2 Country `.mmdb`): with it,
    /// calls from outside a client's allowed countries raise alerts and can be
    /// refused. `None`: residency is recorded but not checked.
    pub geoip_db: Option<PathBuf>,
    /// Loopback addresses are looked up in the country database as this address (for
    /// tests and demos whose calls all come from 127.0.0.1).
    pub geoip_loopback_as: Option<std::net::IpAddr>,
    /// The OpenID providers bank staff sign in through (`--staff-idp`, one spec each:
    /// `sso::IdpConfig::parse`).
    pub staff_idps: Vec<String>,
    /// Whether bank staff may still sign in with a Gatehouse password.
    pub local_staff_passwords: bool,
    /// The absolute cap of a bank staff member's session, in hours.
    pub staff_session_hours: i64,
    /// Staff not seen at their identity provider for this many days are deactivated.
    pub sso_dormant_days: i64,
}

impl Settings {
    /// The file signed audit checkpoints are appended to.
    pub fn audit_checkpoint_path(&self) -> std::path::PathBuf {
        self.audit_checkpoint_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-checkpoints.jsonl"))
    }

    /// Settings for a server listening on `public_url` with everything else at its default.
    pub fn new(public_url: url::Url, data_dir: PathBuf) -> Self {
        Self {
            public_url,
            data_dir,
            database_url: None,
            demo: false,
            smtp_url: None,
            mail_from: "Gatehouse <no-reply@gatehouse.example.com>".into(),
            secret_key: None,
            admin_email: "admin@example.com".into(),
            geoip_db: None,
            geoip_loopback_as: None,
            staff_idps: Vec::new(),
            local_staff_passwords: true,
            staff_session_hours: 8,
            sso_dormant_days: 45,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            signin_attempts_per_minute: 20,
            signups_per_hour: 10,
            local_rate_limits: false,
            instance_beat_seconds: 5,
            reset_requests_per_hour: 10,
            access_token_seconds: 300,
            production_access_token_seconds: 300,
            state_cache_ms: 1000,
            sandbox_credential_days: 90,
            signing_alg: "ES256".into(),
            sandbox_max_rate_limit: 6000,
            mtls_public_url: None,
            mtls_partner_ca: false,
            trusted_proxies: Vec::new(),
            password_hash_concurrency: 4,
            audit_checkpoint_file: None,
            audit_checkpoint_seconds: 900,
            evidence_store_url: None,
            evidence_store_options: Vec::new(),
            evidence_max_bytes: 10 * 1024 * 1024,
            production_audience: None,
            offboarding_batch: 50,
            offboarding_pause_ms: 0,
            request_log_days: 30,
            usage_minute_days: 7,
            usage_hour_days: 90,
            metrics_token: None,
            outbound_allow: Vec::new(),
            outbound_ca_file: None,
            webhook_disable_days: 5,
            deliver_webhooks: true,
        }
    }

    /// The database URL in effect: the configured one, or the SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gatehouse.db").display()
            ),
        }
    }

    /// Cookies are `Secure` unless Gatehouse is served over plain http (localhost development).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The origin (`scheme://host:port`) browsers send in `Origin` for our own pages.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// Whether e-mails are shown at `/dev/mailbox`: only without an SMTP relay, and only
    /// in demo mode or when Gatehouse is served on a loopback address. Anywhere else the
    /// page would show anyone the reset and invitation links of others.
    pub fn dev_mailbox(&self) -> bool {
        let loopback = match self.public_url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        self.smtp_url.is_none() && (self.demo || loopback)
    }

    /// The sandbox authorization server's issuer identifier (RFC 8414 §2): the public
    /// URL without a trailing slash, so its metadata is at `/.well-known/oauth-authorization-server`.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }

    /// The audience of sandbox access tokens: the sandbox API's base URL.
    pub fn sandbox_audience(&self) -> String {
        self.link("/sandbox/open-banking/v3.1")
    }

    /// The audience of production access tokens: the bank's API gateway.
    pub fn production_audience(&self) -> String {
        self.production_audience
            .clone()
            .unwrap_or_else(|| self.link("/production/open-banking/v3.1"))
    }

    /// An absolute link to `path` (which starts with `/`) under the public URL.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    fn settings(url: &str, demo: bool, smtp: bool) -> Settings {
        let mut settings = match url::Url::parse(url) {
            Ok(url) => Settings::new(url, "data".into()),
            Err(err) => panic!("{err}"),
        };
        settings.demo = demo;
        settings.smtp_url = smtp.then(|| "smtp://relay.example.com".into());
        settings
    }

    #[test]
    fn the_dev_mailbox_is_only_for_local_or_demo_installations_without_smtp() {
        assert!(settings("http://127.0.0.1:3000", false, false).dev_mailbox());
        assert!(settings("http://localhost:3000", false, false).dev_mailbox());
        assert!(settings("https://portal.example.com", true, false).dev_mailbox());
        assert!(!settings("https://portal.example.com", false, false).dev_mailbox());
        assert!(!settings("http://127.0.0.1:3000", true, true).dev_mailbox());
    }
}
