//! Configuration: every option is a flag with an environment-variable fallback.
//! `gatehouse --help` is the reference.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: partner onboarding, sandbox and API access governance.",
    after_help = "Every option is global: it may come before or after the subcommand \
                  (`gatehouse --data-dir d audit verify` and `gatehouse audit verify --data-dir d` are the same)."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ADDR",
        default_value = "127.0.0.1:3000"
    )]
    pub addr: SocketAddr,

    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user:pass@host/db`.
    /// Default: an SQLite file `gatehouse.db` in the data directory, created on first start.
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for the SQLite database, the generated secret key and uploads.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,

    /// External base URL, used in e-mailed links, for cookie security (https means
    /// Secure cookies) and as the OAuth2 issuer. Default: http://<addr>.
    #[arg(long, global = true, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Seed demo organisations and one user per role, and print their sign-in details.
    #[arg(long, global = true, env = "GATEHOUSE_DEMO", default_value_t = false)]
    pub demo: bool,

    /// SMTP relay for e-mail, e.g. `smtp://relay.example.com:25` or
    /// `smtps://user:password@smtp.example.com`. Without it, e-mail is shown in the
    /// built-in mailbox page (/dev/mailbox) and never sent.
    #[arg(long, global = true, env = "GATEHOUSE_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// The From: address of Gatehouse's e-mails.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_MAIL_FROM",
        default_value = "Gatehouse <no-reply@gatehouse.example.com>"
    )]
    pub mail_from: String,

    /// Master secret, 64 hex digits. Default: generated into <data-dir>/secret.key on
    /// first start. Instances sharing one PostgreSQL database must share this value.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// E-mail address of the first bank admin of a fresh (non-demo) installation.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ADMIN_EMAIL",
        default_value = "admin@example.com"
    )]
    pub admin_email: String,

    /// Minutes of inactivity after which a session ends.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SESSION_IDLE_MINUTES",
        default_value_t = 30
    )]
    pub session_idle_minutes: i64,

    /// Hours after sign-in after which a session ends, however active.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SESSION_ABSOLUTE_HOURS",
        default_value_t = 12
    )]
    pub session_absolute_hours: i64,

    /// Sign-in attempts allowed per client address per minute.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SIGNIN_ATTEMPTS_PER_MINUTE",
        default_value_t = 20
    )]
    pub signin_attempts_per_minute: u32,

    /// Where the rate limits are counted: `shared` (on PostgreSQL, one count for all
    /// instances; SQLite always counts in process) or `local` (each instance its own,
    /// so N instances allow N times every limit: only when a gateway in front enforces
    /// the limits, or to measure what sharing costs).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_RATE_LIMITS",
        default_value = "shared",
        value_parser = ["shared", "local"]
    )]
    pub rate_limits: String,

    /// Sign-ups (new organisations) allowed per client address per hour, apart from
    /// sign-in attempts; shared by every instance on PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SIGNUPS_PER_HOUR",
        default_value_t = 10
    )]
    pub signups_per_hour: u32,

    /// Password-reset requests allowed per client address per hour (each account also
    /// gets at most 3 reset e-mails an hour); shared by every instance on PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_RESET_REQUESTS_PER_HOUR",
        default_value_t = 10
    )]
    pub reset_requests_per_hour: u32,

    /// Lifetime of the access tokens the sandbox authorization server issues, in seconds.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_ACCESS_TOKEN_SECONDS",
        default_value_t = 300
    )]
    pub access_token_seconds: i64,

    /// Lifetime of the access tokens the production authorization server issues, in
    /// seconds. A credential's expiry (bounded by its tier's conditions) only shortens it.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_PRODUCTION_ACCESS_TOKEN_SECONDS",
        default_value_t = 300
    )]
    pub production_access_token_seconds: i64,

    /// How long clients, token state, consents and payments are served from memory, in
    /// milliseconds (0: never). This process's own changes take effect at once; on
    /// PostgreSQL, other instances hear of them through LISTEN/NOTIFY. The value bounds
    /// how late a change made outside Gatehouse (a hand-edited database) is seen.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_STATE_CACHE_MS",
        default_value_t = 1000
    )]
    pub state_cache_ms: u64,

    /// How many identities an offboarding ends per database transaction.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_OFFBOARDING_BATCH",
        default_value_t = 50,
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub offboarding_batch: u16,

    /// A pause between an offboarding's transactions, in milliseconds (0: none).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_OFFBOARDING_PAUSE_MS",
        default_value_t = 0
    )]
    pub offboarding_pause_ms: u64,

    /// Days the raw request log is kept; at least 30, the window sandbox readiness
    /// reads. Older rows are deleted by the scheduler in small batches.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_REQUEST_LOG_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(i64).range(30..=3650)
    )]
    pub request_log_days: i64,

    /// Days the per-minute usage buckets are kept (the 24-hour charts and the alert
    /// rules read them).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_USAGE_MINUTE_DAYS",
        default_value_t = 7,
        value_parser = clap::value_parser!(i64).range(1..=90)
    )]
    pub usage_minute_days: i64,

    /// Days the per-hour usage buckets are kept; at least 8, the traffic baseline's
    /// 7 days and the current one.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_USAGE_HOUR_DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(i64).range(8..=3650)
    )]
    pub usage_hour_days: i64,

    /// The bearer token `/metrics` asks for (`Authorization: Bearer …`). Without it,
    /// `/metrics` is not served on the public listener.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// A separate address that serves `/metrics` only, without a token (for a
    /// Prometheus on a private network), e.g. `127.0.0.1:9464`. Off when not set.
    #[arg(long, global = true, env = "GATEHOUSE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Socket addresses webhook deliveries may reach although they are not public
    /// (e.g. `10.0.0.5:8443`, an internal relay), comma-separated. Every other
    /// loopback, private, link-local or metadata address is refused.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_OUTBOUND_ALLOW",
        value_delimiter = ','
    )]
    pub outbound_allow: Vec<SocketAddr>,

    /// A PEM file of extra root certificates (an internal CA) that webhook deliveries
    /// trust besides the web's.
    #[arg(long, global = true, env = "GATEHOUSE_OUTBOUND_CA")]
    pub outbound_ca: Option<PathBuf>,

    /// A MaxMind-format country database (a GeoLite2 or GeoIP2 Country `.mmdb` file).
    /// With it, calls and token requests from outside a client's allowed countries
    /// raise an "unexpected origin" alert, and clients set to refuse them are refused
    /// at the token endpoint. Without it, allowed countries are recorded, not checked.
    #[arg(long, global = true, env = "GATEHOUSE_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,

    /// Look loopback addresses (127.0.0.1, ::1) up in the country database as this
    /// address instead: for trying data residency on one machine.
    #[arg(long, global = true, env = "GATEHOUSE_GEOIP_LOOPBACK_AS")]
    pub geoip_loopback_as: Option<std::net::IpAddr>,

    /// An OpenID provider bank staff sign in through (repeat for several):
    /// `key=value` pairs separated by `;`, lists separated by `,`. Keys: `id` (used in
    /// `/sso/<id>/callback`), `label`, `issuer`, `client-id`, one of `secret`,
    /// `secret-file` or `secret-env` (the name of an environment variable),
    /// or `key-file` (a PEM private key for `private_key_jwt`) with `key-id`,
    /// `scopes` (besides openid; default email,profile), `groups-claim` (default
    /// groups), `role.reviewer`, `role.approver`, `role.admin` (the groups that give
    /// each role), `mfa-acr` and `mfa-amr` (values accepted as a second factor;
    /// default amr mfa), `tenants` (for Entra's `{tenantid}` issuer), `trust-email`
    /// (true: addresses count as verified without `email_verified`). Example:
    /// `id=corp;issuer=https://login.bank.example/;client-id=gatehouse;secret-env=OIDC_SECRET;role.reviewer=gh-reviewers;role.approver=gh-approvers;role.admin=gh-admins`.
    #[arg(
        long = "staff-idp",
        global = true,
        env = "GATEHOUSE_STAFF_IDP",
        hide_env_values = true
    )]
    pub staff_idps: Vec<String>,

    /// Whether bank staff may sign in with a Gatehouse password. Turn off once an
    /// identity provider is configured: staff then sign in only through it.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_LOCAL_STAFF_PASSWORDS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub local_staff_passwords: bool,

    /// The absolute cap of a bank staff member's session, in hours (the shorter of
    /// this and --session-absolute-hours applies).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_STAFF_SESSION_HOURS",
        default_value_t = 8,
        value_parser = clap::value_parser!(i64).range(1..=168)
    )]
    pub staff_session_hours: i64,

    /// Staff who sign in through an identity provider and have not for this many
    /// days are deactivated by the scheduler (audited, e-mailed).
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SSO_DORMANT_DAYS",
        default_value_t = 45,
        value_parser = clap::value_parser!(i64).range(1..=3650)
    )]
    pub sso_dormant_days: i64,

    /// A webhook endpoint that fails every delivery for this many days is disabled
    /// and its organisation's admins are e-mailed.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_WEBHOOK_DISABLE_DAYS",
        default_value_t = 5,
        value_parser = clap::value_parser!(i64).range(1..=60)
    )]
    pub webhook_disable_days: i64,

    /// Whether this instance delivers webhooks. Set it to false on instances that
    /// should only serve requests; the others deliver what they queue.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_WEBHOOK_DELIVERY",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub webhook_delivery: bool,

    /// Lifetime of a new sandbox credential (client secret or key), in days.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SANDBOX_CREDENTIAL_DAYS",
        default_value_t = 90
    )]
    pub sandbox_credential_days: i64,

    /// Signature algorithm of the signing key generated on first start: ES256, PS256 or EdDSA.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SIGNING_ALG",
        default_value = "ES256"
    )]
    pub signing_alg: String,

    /// Highest per-client rate limit (requests per minute) partners may set on a sandbox app.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_SANDBOX_MAX_RATE_LIMIT",
        default_value_t = 6000
    )]
    pub sandbox_max_rate_limit: u32,

    /// Where onboarding evidence files are kept: unset means `DATA_DIR/evidence` on the
    /// local filesystem; `s3://bucket/prefix` means S3-compatible storage, configured by
    /// the usual AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT.
    #[arg(long, global = true, env = "GATEHOUSE_EVIDENCE_STORE")]
    pub evidence_store: Option<String>,

    /// Largest evidence upload accepted, in megabytes.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_EVIDENCE_MAX_MB",
        default_value_t = 10
    )]
    pub evidence_max_mb: usize,

    /// The audience (`aud`) of production access tokens: the base URL of the bank's
    /// API gateway. Default: <public URL>/production/open-banking/v3.1.
    #[arg(long, global = true, env = "GATEHOUSE_PRODUCTION_AUDIENCE")]
    pub production_audience: Option<String>,

    /// Address of the mTLS listener (RFC 8705) for `tls_client_auth` clients and
    /// certificate-bound tokens, e.g. `127.0.0.1:3443`. Off when not set.
    #[arg(long, global = true, env = "GATEHOUSE_MTLS_ADDR")]
    pub mtls_addr: Option<SocketAddr>,

    /// External base URL of the mTLS listener, published as `mtls_endpoint_aliases`.
    /// Default: https://<mtls-addr>.
    #[arg(long, global = true, env = "GATEHOUSE_MTLS_PUBLIC_URL")]
    pub mtls_public_url: Option<url::Url>,

    /// PEM certificate chain of the mTLS listener. Default: a self-signed certificate
    /// generated into the data directory (development only).
    #[arg(long, global = true, env = "GATEHOUSE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the mTLS listener.
    #[arg(long, global = true, env = "GATEHOUSE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// PEM file of the partner CAs the bank trusts to issue client certificates. With
    /// it, mTLS clients may register a subject DN (`tls_client_auth`, RFC 8705 §2.1)
    /// and a certificate is trusted for its subject only when its chain validates
    /// against one of these CAs. Without it, mTLS clients register the certificate
    /// itself (`self_signed_tls_client_auth`, §2.2). Put here only CAs the bank
    /// controls (or trusts to issue for every partner): a subject is not bound to the
    /// CA that issued it, so any CA here can issue any registered subject.
    #[arg(long, global = true, env = "GATEHOUSE_MTLS_CLIENT_CA")]
    pub mtls_client_ca: Option<PathBuf>,

    /// Load balancers or reverse proxies (addresses or CIDR ranges, comma-separated)
    /// whose `X-Forwarded-For` / `Forwarded` headers name the client. Off by default:
    /// without it those headers are ignored, since any client can send them.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// argon2id password hashes computed at once (each takes 19 MiB of memory).
    /// Sign-ups and sign-ins beyond it wait up to 3 seconds, then get 429 with
    /// `Retry-After`, so a burst cannot exhaust memory.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_PASSWORD_HASH_CONCURRENCY",
        default_value_t = 4
    )]
    pub password_hash_concurrency: usize,

    /// Where signed checkpoints of the audit chain are appended (default:
    /// `audit-checkpoints.jsonl` in the data directory). Keep it out of reach of
    /// whoever can write to the database: `audit verify --checkpoints` checks it.
    #[arg(long, global = true, env = "GATEHOUSE_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<std::path::PathBuf>,

    /// How often the audit chain's head is signed and exported, when it moved.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_AUDIT_CHECKPOINT_SECONDS",
        default_value_t = 900
    )]
    pub audit_checkpoint_seconds: i64,

    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        env = "GATEHOUSE_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage bank staff.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the current two-step code of the demo bank staff (demo installations only).
    DemoCode,
    /// Manage the authorization server's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the bank's resource servers (API gateways), which introspect the tokens
    /// of the audience they serve.
    ResourceServer {
        #[command(subcommand)]
        command: ResourceServerCommand,
    },
    /// Print the consumer inventory (every client and credential): the same rows as
    /// the bank's inventory page and its exports, with the same filters.
    Inventory {
        /// json or csv.
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
        /// Only this organisation (its id).
        #[arg(long, default_value = "")]
        org: String,
        /// sandbox or production.
        #[arg(long, default_value = "")]
        environment: String,
        /// active, expiring, dormant, suspended, revoked, expired or out_of_policy.
        #[arg(long, default_value = "")]
        status: String,
        /// Only credentials expiring within this many days.
        #[arg(long, default_value = "")]
        expiring_within: String,
        /// Only credentials unused for at least this many days.
        #[arg(long, default_value = "")]
        dormant_for: String,
        /// Only clients whose owner has left.
        #[arg(long)]
        no_owner: bool,
        /// Only clients out of policy.
        #[arg(long)]
        out_of_policy: bool,
        /// Only clients with an exception in force.
        #[arg(long)]
        has_exception: bool,
    },
    /// List the instances seen in the last day (id, live/gone/stopped, version,
    /// address, start, last heartbeat, the scheduler jobs each holds).
    Instances,
    /// Signed evidence packs of offboardings and review campaigns.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// The governance sweep (expiry, dormancy, owners, exceptions, evidence).
    Governance {
        #[command(subcommand)]
        command: GovernanceCommand,
    },
    /// Send traffic to a running Gatehouse as a partner's software would: normal use,
    /// or an attack pattern that fires one anomaly rule (see README, "Oversight").
    Traffic {
        /// The Gatehouse to call.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        target: String,
        /// normal, auth-failures, grant-failures, enumeration, scope, new-endpoint, spike,
        /// rate-limit, new-network or allow-list.
        #[arg(long, default_value = "normal")]
        pattern: String,
        /// The client (default: the demo sandbox app).
        #[arg(long, default_value = "cli_demo_acme_sandbox")]
        client_id: String,
        /// Its secret (default: the demo sandbox app's).
        #[arg(
            long,
            default_value = "demo-sandbox-secret-acme-2026",
            hide_default_value = true
        )]
        client_secret: String,
        /// The token endpoint's path (`/production/oauth/token` for a production client).
        #[arg(long, default_value = "/oauth/token")]
        token_path: String,
        /// The API's base path.
        #[arg(long, default_value = "/sandbox/open-banking/v3.1")]
        api_path: String,
        /// How long `normal` and `rate-limit` run.
        #[arg(long, default_value_t = 2)]
        minutes: u64,
        /// Calls a minute for `normal` (8 stays below the traffic-spike floor).
        #[arg(long, default_value_t = 8)]
        rate: u64,
        /// The address `new-network` and `allow-list` present in X-Forwarded-For.
        #[arg(long)]
        forwarded_for: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// List the evidence packs: id, kind, when written, entries, title.
    List,
    /// Write one pack (JSON: the signed manifest, readable, and as CSV) to a file.
    Export {
        /// The pack's id (pack_…).
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check a pack: its signature, its CSV, every listed audit event and the chain.
    /// Exits 1 and names each problem when it does not verify.
    Verify {
        /// The pack file.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// Print, changing nothing, every action the sweep would take at a time.
    Preview {
        /// The time to judge at, RFC 3339 (e.g. 2027-01-01T00:00:00Z); default now.
        #[arg(long)]
        as_of: Option<String>,
        /// Print JSON rather than one line per action.
        #[arg(long)]
        json: bool,
    },
    /// Run the sweep now (unless another instance is running it) and print what it did.
    Sweep,
}

#[derive(Debug, Subcommand)]
pub enum ResourceServerCommand {
    /// Register a gateway and print its client id and secret (shown once).
    Create {
        /// A name for the audit trail and the list (e.g. "production gateway").
        #[arg(long)]
        name: String,
        /// The issuer whose tokens it introspects: sandbox or production.
        #[arg(long, value_parser = ["sandbox", "production"])]
        issuer: String,
    },
    /// List the gateways.
    List,
    /// Revoke a gateway's access at once.
    Revoke {
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new signing key. It is published in the JWKS at once and signs only
    /// after the delay, so relying parties that cache the JWKS learn it first.
    Rotate {
        /// ES256, PS256 or EdDSA.
        #[arg(long, default_value = "ES256")]
        alg: String,
        /// Seconds between publication and first use: at least the time instances take
        /// to load a new key plus the JWKS cache time (305).
        #[arg(long, default_value_t = 900)]
        activate_after: i64,
        /// Whose key: the sandbox issuer's, the production issuer's, or the directory's
        /// (which signs software statements).
        #[arg(long, default_value = "sandbox", value_parser = ["sandbox", "production", "directory"])]
        issuer: String,
    },
    /// Retire a signing key at once (for example, a compromised one): it leaves the
    /// JWKS and tokens it signed are refused. A signing key is replaced immediately.
    Retire {
        /// The key's `kid` (see `keys list`).
        #[arg(long)]
        kid: String,
        /// Why, for the audit trail.
        #[arg(long, default_value = "retired by an operator")]
        reason: String,
        /// sandbox, production or directory.
        #[arg(long, default_value = "sandbox", value_parser = ["sandbox", "production", "directory"])]
        issuer: String,
    },
    /// List the signing keys and their state.
    List {
        /// sandbox, production or directory.
        #[arg(long, default_value = "sandbox", value_parser = ["sandbox", "production", "directory"])]
        issuer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a bank user and print their one-time set-up link.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// reviewer, approver or admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exits non-zero and names the first broken event. With
    /// `--checkpoints FILE`, also checks each signed checkpoint in it.
    Verify {
        /// A checkpoint file written by Gatehouse (JSON lines).
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Signs the chain's head now and exports the checkpoint (file, object store, log).
    Checkpoint,
}

impl Config {
    pub fn settings(&self) -> Result<app::Settings, url::ParseError> {
        let public_url = match &self.public_url {
            Some(url) => url.clone(),
            None => url::Url::parse(&format!("http://{}", self.addr))?,
        };
        let mut settings = app::Settings::new(public_url, self.data_dir.clone());
        settings.database_url = self.database_url.clone();
        settings.demo = self.demo;
        settings.smtp_url = self.smtp_url.clone();
        settings.mail_from = self.mail_from.clone();
        settings.secret_key = self.secret_key.clone();
        settings.admin_email = self.admin_email.clone();
        settings.session_idle_minutes = self.session_idle_minutes;
        settings.session_absolute_hours = self.session_absolute_hours;
        settings.signin_attempts_per_minute = self.signin_attempts_per_minute;
        settings.signups_per_hour = self.signups_per_hour;
        settings.local_rate_limits = self.rate_limits == "local";
        settings.reset_requests_per_hour = self.reset_requests_per_hour;
        settings.access_token_seconds = self.access_token_seconds;
        settings.production_access_token_seconds = self.production_access_token_seconds;
        settings.state_cache_ms = self.state_cache_ms;
        settings.offboarding_batch = usize::from(self.offboarding_batch);
        settings.offboarding_pause_ms = self.offboarding_pause_ms;
        settings.request_log_days = self.request_log_days;
        settings.usage_minute_days = self.usage_minute_days;
        settings.usage_hour_days = self.usage_hour_days;
        settings.metrics_token = self.metrics_token.clone().filter(|t| !t.is_empty());
        settings.outbound_allow = self.outbound_allow.clone();
        settings.outbound_ca_file = self.outbound_ca.clone();
        settings.geoip_db = self.geoip_db.clone();
        settings.geoip_loopback_as = self.geoip_loopback_as;
        settings.staff_idps = self.staff_idps.clone();
        settings.local_staff_passwords = self.local_staff_passwords;
        settings.staff_session_hours = self.staff_session_hours;
        settings.sso_dormant_days = self.sso_dormant_days;
        settings.webhook_disable_days = self.webhook_disable_days;
        settings.deliver_webhooks = self.webhook_delivery;
        settings.sandbox_credential_days = self.sandbox_credential_days;
        settings.signing_alg = self.signing_alg.clone();
        settings.sandbox_max_rate_limit = self.sandbox_max_rate_limit;
        settings.production_audience = self.production_audience.clone();
        settings.evidence_store_url = self.evidence_store.clone();
        settings.evidence_max_bytes = self.evidence_max_mb.max(1) * 1024 * 1024;
        settings.trusted_proxies = self.trusted_proxies.clone();
        settings.password_hash_concurrency = self.password_hash_concurrency;
        settings.audit_checkpoint_file = self.audit_checkpoint_file.clone();
        settings.audit_checkpoint_seconds = self.audit_checkpoint_seconds.max(60);
        settings.mtls_partner_ca = self.mtls_client_ca.is_some() && self.mtls_addr.is_some();
        settings.mtls_public_url = match (&self.mtls_public_url, self.mtls_addr) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(addr)) => Some(url::Url::parse(&format!("https://{addr}"))?),
            (None, None) => None,
        };
        Ok(settings)
    }
}

/// An address (`10.0.0.5`) or a range (`10.0.0.0/24`).
fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text} is not an IP address or CIDR range"))
}
