//! The test harness: a real Gatehouse server on port 0 against a real database
//! (SQLite always; PostgreSQL when GATEHOUSE_TEST_POSTGRES_URL is set, and then
//! mandatory when GATEHOUSE_REQUIRE_POSTGRES=1), driven over HTTP like a browser
//! with JavaScript disabled would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use app::AppState;
use reqwest::{redirect, Response, StatusCode};
use sqlx::Row;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    /// The mTLS listener's base URL and its (self-signed) certificate, when started with one.
    pub mtls: Option<(String, Vec<u8>)>,
    pub state: AppState,
    pub admin_setup_link: Option<String>,
    /// The PostgreSQL database this server was given, dropped with it.
    _database: Option<OwnedDatabase>,
    _dir: tempfile::TempDir,
}

/// A test's own PostgreSQL database: dropped (its connections ended) when the test's
/// server is, so a run leaves no databases behind.
struct OwnedDatabase {
    admin_url: String,
    name: String,
}

impl OwnedDatabase {
    fn url(&self) -> String {
        let mut url =
            url::Url::parse(&self.admin_url).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }
}

impl Drop for OwnedDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: a thread of its own with a small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

/// A test `async fn name(backend: Backend)` that starts its own server(s), run once
/// on each database.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    };
}

/// Runs an async test body against both backends: `both!(name, body_fn)` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        $crate::both!($name, false);
    };
    ($name:ident, demo) => {
        $crate::both!($name, true);
    };
    ($name:ident, $demo:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(server) =
                    $crate::common::TestServer::start($crate::common::Backend::Sqlite, $demo).await
                {
                    super::$name(server).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(server) =
                    $crate::common::TestServer::start($crate::common::Backend::Postgres, $demo)
                        .await
                {
                    super::$name(server).await;
                }
            }
        }
    };
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{nanos}{}", std::process::id())
}

/// A fresh PostgreSQL database for one test, or None when PostgreSQL is not configured.
async fn postgres_database() -> Option<OwnedDatabase> {
    let Ok(admin_url) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL") else {
        if std::env::var("GATEHOUSE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("GATEHOUSE_REQUIRE_POSTGRES=1 but GATEHOUSE_TEST_POSTGRES_URL is not set");
        }
        eprintln!("skipping: GATEHOUSE_TEST_POSTGRES_URL is not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = unique("gatehouse_test_");
    let pool = sqlx::AnyPool::connect(&admin_url)
        .await
        .expect("connect to GATEHOUSE_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    Some(OwnedDatabase { admin_url, name })
}

impl TestServer {
    pub async fn start(backend: Backend, demo: bool) -> Option<Self> {
        Self::start_with(backend, |settings| settings.demo = demo).await
    }

    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut app::Settings),
    ) -> Option<Self> {
        Self::start_full(backend, None, configure).await
    }

    /// A server on a PostgreSQL database the test made itself (a private cluster).
    pub async fn start_on(
        database_url: String,
        configure: impl FnOnce(&mut app::Settings),
    ) -> Self {
        Self::launch(Some(database_url), None, None, configure).await
    }

    /// A server with an mTLS listener beside the plain one (RFC 8705).
    pub async fn start_mtls(backend: Backend, demo: bool) -> Option<Self> {
        Self::start_full(backend, Some(None), |settings| settings.demo = demo).await
    }

    /// A demo server with an mTLS listener that trusts the partner CA in `ca_pem` for
    /// `tls_client_auth` by subject (RFC 8705 §2.1).
    pub async fn start_mtls_with_partner_ca(backend: Backend, ca_pem: &str) -> Option<Self> {
        Self::start_full(backend, Some(Some(ca_pem.to_string())), |settings| {
            settings.demo = true
        })
        .await
    }

    async fn start_full(
        backend: Backend,
        mtls: Option<Option<String>>,
        configure: impl FnOnce(&mut app::Settings),
    ) -> Option<Self> {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_database().await?),
        };
        let mut server = Self::launch(
            database.as_ref().map(OwnedDatabase::url),
            None,
            mtls,
            configure,
        )
        .await;
        server._database = database;
        Some(server)
    }

    /// A second instance of Gatehouse on this one's PostgreSQL database and data
    /// directory (the same master key), as a horizontally scaled deployment runs.
    pub async fn second_instance(&self, configure: impl FnOnce(&mut app::Settings)) -> Self {
        let database_url = self.state.settings.database_url.clone();
        assert!(
            database_url.is_some(),
            "instances share a PostgreSQL database"
        );
        let data_dir = self.state.settings.data_dir.clone();
        Self::launch(database_url, Some(data_dir), None, configure).await
    }

    async fn launch(
        database_url: Option<String>,
        data_dir: Option<std::path::PathBuf>,
        with_mtls: Option<Option<String>>,
        configure: impl FnOnce(&mut app::Settings),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = app::Settings::new(
            url::Url::parse(&base).unwrap(),
            data_dir.unwrap_or_else(|| dir.path().to_path_buf()),
        );
        settings.database_url = database_url;
        settings.signin_attempts_per_minute = 1000;
        settings.signups_per_hour = 1000;
        settings.reset_requests_per_hour = 1000;
        // Many servers share this process (and its one hashing limit): room for all.
        settings.password_hash_concurrency = 32;
        settings.metrics_token = Some(METRICS_TOKEN.into());
        configure(&mut settings);
        let mut mtls = None;
        let mut mtls_listener = None;
        if let Some(partner_ca) = with_mtls {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mtls_base = format!("https://{}", listener.local_addr().unwrap());
            let (chain, key) =
                gatehouse_server::mtls::identity(None, None, dir.path(), "127.0.0.1").unwrap();
            let certificate = std::fs::read(dir.path().join("mtls-server.crt")).unwrap();
            settings.mtls_public_url = Some(url::Url::parse(&mtls_base).unwrap());
            mtls_listener = Some(gatehouse_server::MtlsListener {
                listener,
                config: gatehouse_server::mtls::server_config(chain, key).unwrap(),
                partner_cas: partner_ca.map(|pem| {
                    let path = dir.path().join("partner-ca.pem");
                    std::fs::write(&path, pem).unwrap();
                    settings.mtls_partner_ca = true;
                    gatehouse_server::mtls::partner_ca_verifier(&path).unwrap()
                }),
            });
            mtls = Some((mtls_base, certificate));
        }
        let running = gatehouse_server::start_with_mtls(settings, listener, mtls_listener)
            .await
            .expect("server starts");
        Self {
            base,
            mtls,
            state: running.state,
            admin_setup_link: running.admin_setup_link,
            _database: None,
            _dir: dir,
        }
    }

    pub fn client(&self) -> Client {
        Client {
            state: self.state.clone(),
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// After a test writes to the database behind Gatehouse's back: makes the
    /// in-process cache of clients and token state forget, as its one-second expiry
    /// would.
    pub fn forget_cached_state(&self) {
        self.state.oauth().cache.changed();
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.state.db.pool
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.pool())
            .await
            .unwrap()
    }

    /// The newest e-mail to `to`: (subject, body).
    pub async fn last_mail(&self, to: &str) -> (String, String) {
        let row = sqlx::query("SELECT subject, body FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
            .bind(to)
            .fetch_one(self.pool())
            .await
            .unwrap_or_else(|_| panic!("no e-mail to {to}"));
        (row.get::<String, _>(0), row.get::<String, _>(1))
    }

    /// Waits until `to` has `count` e-mails with `subject` (some are written after
    /// the request has been answered, such as password resets).
    pub async fn wait_for_mails(&self, to: &str, subject: &str, count: i64) {
        for _ in 0..400 {
            let have: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND subject = $2",
            )
            .bind(to)
            .bind(subject)
            .fetch_one(self.pool())
            .await
            .unwrap();
            if have >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        panic!("{to} did not get {count} e-mails \"{subject}\"");
    }

    /// The first link in the newest e-mail to `to`, as a path under the server.
    pub async fn mailed_link(&self, to: &str) -> String {
        let (_, body) = self.last_mail(to).await;
        let link = body
            .lines()
            .find(|l| l.starts_with("http"))
            .expect("a link in the e-mail")
            .trim()
            .to_string();
        link.strip_prefix(&self.base)
            .expect("link under the public URL")
            .to_string()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_scalar::<_, String>("SELECT action FROM audit_events ORDER BY seq")
            .fetch_all(self.pool())
            .await
            .unwrap()
    }

    /// Signs up an organisation, verifies the e-mail and signs in; returns the client.
    pub async fn partner_admin(&self, email: &str, registration: &str) -> Client {
        let client = self.client();
        let response = client
            .submit("/signup", "/signup", &signup_fields(email, registration))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-up of {email}"
        );
        let link = self.mailed_link(email).await;
        let response = client.get(&link).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let response = client.sign_in(email, SIGNUP_PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {email}"
        );
        client
    }

    /// Signs in the demo partner developer of Acme Budgeting (no second factor).
    pub async fn demo_partner(&self) -> Client {
        self.demo_partner_user("dev@acme-budgeting.example.com")
            .await
    }

    /// Waits until the scheduler has finished its first tick (which runs every job at
    /// start-up, the demo's sweep among them, writing audit events) and no instance
    /// on this database is running a job.
    pub async fn wait_for_first_tick(&self) {
        for _ in 0..600 {
            let done: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM job_runs WHERE job = 'access_requests_escalate'",
            )
            .fetch_one(self.pool())
            .await
            .unwrap();
            let running: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM scheduler_jobs WHERE lease_owner IS NOT NULL",
            )
            .fetch_one(self.pool())
            .await
            .unwrap();
            if done > 0 && running == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the scheduler's first tick did not finish");
    }

    /// Stops this database's scheduler from starting any job: waits for the first
    /// tick, then holds every job's lease in the test's name (as a second instance
    /// would while running it). For tests that must see the database still between
    /// two of their own steps. `release_job` lets one job run again.
    pub async fn hold_scheduler(&self) {
        self.wait_for_first_tick().await;
        for _ in 0..600 {
            sqlx::query(
                "UPDATE scheduler_jobs SET lease_owner = 'test-hold', lease_until = $1 WHERE lease_owner IS NULL",
            )
            .bind(i64::MAX / 4)
            .execute(self.pool())
            .await
            .unwrap();
            let free: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM scheduler_jobs WHERE lease_owner IS NULL OR lease_owner <> 'test-hold'",
            )
            .fetch_one(self.pool())
            .await
            .unwrap();
            if free == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("a scheduled job did not finish");
    }

    /// Lets the scheduler (and `run_job`) run job `name` again after `hold_scheduler`.
    pub async fn release_job(&self, name: &str) {
        sqlx::query(
            "UPDATE scheduler_jobs SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = 'test-hold'",
        )
        .bind(name)
        .execute(self.pool())
        .await
        .unwrap();
    }

    /// Runs scheduler job `name` now, through the composed job list and the
    /// scheduler's lease, as the server's own scheduler does. When that scheduler
    /// holds the lease at the moment (its first tick runs every job), this waits for
    /// it and runs the job once more. The run's summary.
    pub async fn run_job(&self, name: &str) -> serde_json::Value {
        for _ in 0..300 {
            if let Some(summary) = gatehouse_server::compose::run_job_now(&self.state, name)
                .await
                .unwrap()
            {
                return summary;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the job {name} never became free");
    }

    /// `/metrics`, with the test servers' bearer token.
    pub async fn metrics(&self) -> String {
        let response = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// Signs in a demo partner user by e-mail.
    pub async fn demo_partner_user(&self, email: &str) -> Client {
        let client = self.client();
        let response = client
            .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
            .await;
        assert_location(&response, "/dashboard");
        client
    }

    /// Signs in a demo bank user (password and the demo TOTP code for `offset` steps ahead).
    pub async fn demo_staff(&self, email: &str, offset: i64) -> Client {
        let client = self.client();
        let response = client
            .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
            .await;
        assert_location(&response, "/signin/code");
        let secret =
            app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
        // A code is single-use per time step. `offset` picks the step; when the user
        // already used that one (an earlier sign-in just before a step boundary), the
        // next unused step is taken, waiting for it to be current enough if need be.
        let last: Option<i64> =
            sqlx::query_scalar("SELECT totp_last_step FROM users WHERE email = $1")
                .bind(email)
                .fetch_one(self.pool())
                .await
                .unwrap();
        // A step behind is still accepted, unless the current step ends before the
        // server checks it: not in the last seconds of a step.
        while offset < 0 && self.state.clock.now() % 30 >= 27 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let mut step = self.state.clock.now() / 30 + offset;
        if let Some(last) = last.filter(|last| step <= *last) {
            step = last + 1;
            while self.state.clock.now() / 30 + 1 < step {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
        let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).unwrap();
        let code = totp.generate((step * 30) as u64);
        let response = client
            .submit("/signin/code", "/signin/code", &[("code", &code)])
            .await;
        assert_location(&response, "/dashboard");
        client
    }
}

pub fn signup_fields<'a>(email: &'a str, registration: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("legal_name", "Acme Budgeting Ltd"),
        ("registration_number", registration),
        ("country", "GB"),
        ("website", "https://acme.example.com"),
        ("lei", ""),
        ("full_name", "Ada Lovelace"),
        ("email", email),
        ("password", SIGNUP_PASSWORD),
    ]
}

/// The password `signup_fields` signs up with.
/// The bearer token `/metrics` asks the test servers for.
pub const METRICS_TOKEN: &str = "test-metrics-token";

pub const SIGNUP_PASSWORD: &str = "tidal ferret oboe lantern";

/// The TOTP code `offset` 30-second steps from now by the server's clock (the
/// server checks codes against its own clock, which tests move).
pub fn totp_code(clock: &app::platform::time::Clock, secret: &[u8], offset: i64) -> String {
    let now = clock.now();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).unwrap();
    totp.generate((now + offset * 30) as u64)
}

pub fn assert_location(response: &Response, expected: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect to {expected}"
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(location, expected);
}

/// Pulls `value="…"` of the input named `name` out of a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>')?];
    let start = tag.find("value=\"")? + "value=\"".len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&"))
}

/// The text inside the element with `id`.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].to_string())
}

/// A browser-like client: keeps cookies, does not follow redirects (tests check them).
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    /// The server's state: its clock, for second-factor codes.
    pub state: AppState,
}

impl Client {
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn text(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// The CSRF token of the form on `page`.
    pub async fn csrf(&self, page: &str) -> String {
        let (_, html) = self.text(page).await;
        input_value(&html, "csrf_token").unwrap_or_else(|| panic!("no CSRF token on {page}"))
    }

    /// Posts raw form fields (the caller supplies any token).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Enrols a TOTP second factor from the account page; returns its secret.
    pub async fn enrol_totp(&self) -> Vec<u8> {
        let (_, html) = self.text("/account/totp").await;
        let key = element_text(&html, "totp-secret")
            .unwrap_or_else(|| panic!("no key on {html}"))
            .replace(' ', "");
        let secret = app::accounts::totp::from_base32(&key).unwrap();
        let response = self
            .submit(
                "/account/totp",
                "/account/totp",
                &[("code", &totp_code(&self.state.clock, &secret, 0))],
            )
            .await;
        assert_location(&response, "/account/totp/codes");
        secret
    }

    /// Submits the sign-in form with `email` and `password`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.submit(
            "/signin",
            "/signin",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Opens `page` and submits its form to `action` with `fields`, as a browser would.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(page).await;
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}
