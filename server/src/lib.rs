//! The Gatehouse server: starts the HTTP listener and the background jobs over the
//! application core, and runs the CLI subcommands.

pub mod compose;
pub mod config;
pub mod evidence;
pub use evidence::{evidence_export, evidence_list, evidence_verify};
pub mod governance;
pub use governance::{governance_preview, governance_sweep, inventory};
pub mod mtls;
pub mod progress;
pub mod traffic;

use std::net::SocketAddr;
use std::time::Duration;

use app::accounts::bootstrap;
use app::AppState;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::Config;

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub server: JoinHandle<()>,
    /// The one-time set-up link of the first bank admin, on a fresh non-demo installation.
    pub admin_setup_link: Option<String>,
}

/// Prepares the database (migrations, first admin or demo data), then serves on
/// `listener` and starts the background jobs.
pub async fn start(
    settings: app::Settings,
    listener: TcpListener,
) -> Result<Running, app::platform::error::Error> {
    start_with_mtls(settings, listener, None).await
}

/// The mTLS listener and its TLS configuration (RFC 8705).
pub struct MtlsListener {
    pub listener: TcpListener,
    pub config: std::sync::Arc<rustls::ServerConfig>,
    /// Validates client chains for `tls_client_auth` by subject (RFC 8705 §2.1).
    pub partner_cas: Option<std::sync::Arc<dyn rustls::server::danger::ClientCertVerifier>>,
}

/// `start`, plus the mTLS listener when one is given.
pub async fn start_with_mtls(
    settings: app::Settings,
    listener: TcpListener,
    mtls: Option<MtlsListener>,
) -> Result<Running, app::platform::error::Error> {
    let demo = settings.demo;
    let state = compose::state(settings).await?;
    compose::ensure_defaults(&state).await?;
    let admin_setup_link = if demo {
        compose::seed_demo(&state).await?;
        None
    } else {
        bootstrap::ensure_first_admin(&state).await?
    };
    let addr = listener
        .local_addr()
        .map_err(app::platform::error::Error::internal)?;
    let router = compose::router(state.clone());
    if let Some(mtls) = mtls {
        tokio::spawn(mtls::serve(
            mtls.listener,
            router.clone(),
            mtls.config,
            mtls.partner_cas,
        ));
    }
    // Registered before it serves, so the limiter counts it from the first request.
    // The others on this PostgreSQL hear of it at once (a hint; their beats count too).
    tokio::spawn(app::instances::listen(state.clone()));
    if let Err(err) = app::instances::register(&state, &addr.to_string()).await {
        tracing::warn!(error = %err, "registering this instance failed; the heartbeat retries");
    }
    let stopping = state.clone();
    let server = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(err) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown_signal())
            .await
        {
            tracing::error!(error = %err, "server stopped");
        }
        // A clean stop (a rolling restart): no longer counted, leases handed on, and
        // nothing this instance holds in memory lost: the request log's queue is
        // written and the repeated security events summed so far are audited.
        if let Err(err) = app::instances::stop(&stopping).await {
            tracing::warn!(error = %err, "marking this instance stopped failed");
        }
        if !stopping
            .oauth()
            .request_log
            .drain(Duration::from_secs(30))
            .await
        {
            tracing::error!("request log entries were still unwritten when the instance stopped");
        }
        if let Err(err) = app::webhooks::delivery::release_claims(&stopping).await {
            tracing::warn!(error = %err, "handing back claimed webhook deliveries at stop failed");
        }
        if let Err(err) = app::platform::repeats::flush_all(&stopping).await {
            tracing::warn!(error = %err, "auditing repeated security events at stop failed");
        }
    });
    tokio::spawn(app::mail::run_worker(state.clone()));
    if state.settings.deliver_webhooks {
        tokio::spawn(app::webhooks::dispatch::run_worker(state.clone()));
    }
    tokio::spawn(app::platform::scheduler::run_forever(
        state.clone(),
        compose::jobs(),
    ));
    // An offboarding that a stopped (or killed) process left half-done carries on now.
    let resumed = state.clone();
    tokio::spawn(async move {
        if let Err(err) = app::offboarding::job::resume(&resumed).await {
            tracing::warn!(error = %err, "resuming offboardings failed; the scheduler retries");
        }
    });
    tokio::spawn(instance_maintenance(state.clone()));
    tokio::spawn(heartbeat(state.clone(), addr.to_string()));
    tokio::spawn(reload_signing_keys(state.clone()));
    Ok(Running {
        addr,
        state,
        server,
        admin_setup_link,
    })
}

/// Every minute, what each instance keeps in its own memory: repeated CSRF
/// refusals are summed here before they reach the audit trail. Every job that works
/// on the database runs in the one scheduler (`compose::jobs`).
async fn instance_maintenance(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(err) = app::platform::repeats::flush(&state).await {
            tracing::warn!(error = %err, "auditing repeated security events failed");
        }
    }
}

/// Every few seconds: this instance's heartbeat, which also tells the rate limiter
/// how many instances share the limits.
async fn heartbeat(state: AppState, address: String) {
    let mut tick = tokio::time::interval(Duration::from_secs(
        state.settings.instance_beat_seconds.max(1),
    ));
    loop {
        tick.tick().await;
        if let Err(err) = app::instances::beat(&state, &address).await {
            tracing::warn!(error = %err, "the instance heartbeat failed");
        }
    }
}

/// Every few seconds: picks up signing keys rotated or retired from the CLI or by
/// another instance, so a retired key is refused everywhere within
/// `keys::RELOAD_SECONDS`.
async fn reload_signing_keys(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(
        app::oauth::keys::RELOAD_SECONDS.unsigned_abs(),
    ));
    loop {
        tick.tick().await;
        if let Err(err) = app::oauth::reload_keys(&state).await {
            tracing::warn!(error = %err, "reloading signing keys failed");
        }
    }
}

/// `gatehouse instances`: one line per instance seen in the last day.
pub async fn instances_list(settings: app::Settings) -> Result<String, String> {
    let state = compose::state(settings).await.map_err(|e| e.to_string())?;
    let now = state.clock.now();
    let instances = app::instances::list(&state.db, now)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    for i in instances {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\tstarted {}\tlast beat {}\tcache generation {}\tjobs: {}\n",
            i.id,
            i.state(now),
            i.version,
            i.address,
            app::platform::time::rfc3339(i.started_at),
            app::platform::time::rfc3339(i.last_beat_at),
            i.cache_generation,
            if i.jobs.is_empty() {
                "none".to_string()
            } else {
                i.jobs.join(",")
            },
        ));
    }
    Ok(out)
}

/// `gatehouse keys retire`: the key leaves the JWKS and is refused at once.
pub async fn keys_retire(
    settings: app::Settings,
    issuer: &str,
    kid: &str,
    reason: &str,
) -> Result<String, String> {
    let state = compose::state(settings).await.map_err(|e| e.to_string())?;
    let retired = app::oauth::keys::retire(
        &state.db,
        &state.keys,
        issuer,
        kid,
        reason,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        app::platform::error::Error::NotFound => format!("no {issuer} key {kid}"),
        other => other.to_string(),
    })?;
    let mut message = format!(
        "Key {kid} is retired: it has left the JWKS, and running instances refuse its tokens within {} seconds.",
        app::oauth::keys::RELOAD_SECONDS
    );
    if let Some(new) = retired.replacement {
        message.push_str(&format!(
            "\nIt was signing: key {new} replaces it and signs now."
        ));
    }
    Ok(message)
}

/// `gatehouse keys rotate`: a new signing key, published now, signing after the delay.
pub async fn keys_rotate(
    settings: app::Settings,
    issuer: &str,
    alg: &str,
    activate_after: i64,
) -> Result<String, String> {
    let alg =
        app::oauth::keys::parse_alg(alg).ok_or("the algorithm must be ES256, PS256 or EdDSA")?;
    let minimum = app::oauth::keys::MIN_ACTIVATE_AFTER;
    if activate_after < minimum {
        return Err(format!(
            "--activate-after must be at least {minimum} seconds: the time instances take to load a new key ({}) plus the JWKS cache time ({})",
            app::oauth::keys::RELOAD_SECONDS,
            app::oauth::keys::JWKS_CACHE_SECONDS
        ));
    }
    let state = compose::state(settings).await.map_err(|e| e.to_string())?;
    let now = state.clock.now();
    let kid = app::oauth::keys::create(
        &state.db,
        &state.keys,
        issuer,
        alg,
        now,
        now + activate_after,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "New {} key {kid} is published now and signs from {}.",
        app::oauth::keys::alg_name(alg),
        app::platform::time::display(now + activate_after)
    ))
}

/// `gatehouse keys list`.
pub async fn keys_list(settings: app::Settings, issuer: &str) -> Result<String, String> {
    let state = compose::state(settings).await.map_err(|e| e.to_string())?;
    let ring = app::oauth::keys::load(&state.db, &state.keys, issuer)
        .await
        .map_err(|e| e.to_string())?;
    let now = state.clock.now();
    let signing = ring.signing(now).map(|k| k.kid.clone());
    let retention = if issuer == app::directory::statement::KEY_ISSUER {
        app::directory::statement::RETENTION_SECONDS
    } else {
        state
            .settings
            .access_token_seconds
            .max(state.settings.production_access_token_seconds)
            + 600
    };
    let published: Vec<String> = ring
        .published(now, retention)
        .iter()
        .map(|k| k.kid.clone())
        .collect();
    let mut out = String::from("kid                                          alg    state\n");
    for key in ring.all() {
        let status = if Some(&key.kid) == signing.as_ref() {
            "signing".to_string()
        } else if key.active_from > now {
            format!(
                "published, signs from {}",
                app::platform::time::display(key.active_from)
            )
        } else if published.contains(&key.kid) {
            "superseded, still published".to_string()
        } else {
            "retired".to_string()
        };
        out.push_str(&format!(
            "{:<44} {:<6} {status}\n",
            key.kid,
            app::oauth::keys::alg_name(key.alg)
        ));
    }
    Ok(out)
}

/// Ctrl-C, or SIGTERM (what a process manager or an orchestrator sends to stop an
/// instance in a rolling restart).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// What the start-up banner tells a newcomer.
pub fn banner(running: &Running) -> String {
    let url = running
        .state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let mut out = format!("\nGatehouse is running at {url}\n");
    if running.state.settings.demo {
        out.push_str("\nDEMO MODE: demo accounts (password for all: ");
        out.push_str(bootstrap::DEMO_PASSWORD);
        out.push_str(")\n");
        for account in bootstrap::DEMO_ACCOUNTS {
            let org = account.organisation.unwrap_or("the bank");
            out.push_str(&format!(
                "  {:<36} {:<18} {}\n",
                account.email,
                account.role.label(),
                org
            ));
        }
        out.push_str(&format!(
            "Bank staff use two-step verification with the demo key {}:\n  for the current code run `cargo run -- demo-code` in the source tree,\n  or `gatehouse --data-dir {} demo-code` with the built binary.\n",
            bootstrap::DEMO_TOTP_SECRET,
            running.state.settings.data_dir.display()
        ));
    }
    if let Some(link) = &running.admin_setup_link {
        out.push_str(&format!(
            "\nFirst start: set up the bank admin account ({}) with this one-time link:\n  {link}\n",
            running.state.settings.admin_email
        ));
    }
    if running.state.settings.dev_mailbox() {
        out.push_str(&format!(
            "\nNo SMTP relay configured: e-mails appear at {url}/dev/mailbox\n"
        ));
    } else if running.state.settings.smtp_url.is_none() {
        out.push_str(
            "\nNo SMTP relay configured: e-mails are queued but not delivered. Set --smtp-url.\n",
        );
    }
    out
}

/// `gatehouse audit verify [--checkpoints FILE]`: checks the whole chain of the
/// configured database (with the installation's key), and each signed checkpoint in
/// the file against it.
pub async fn audit_verify(
    settings: app::Settings,
    checkpoints: Option<&std::path::Path>,
) -> Result<
    (
        app::audit::chain::Verdict,
        Option<app::audit::checkpoint::Finding>,
    ),
    String,
> {
    let db = app::platform::db::Db::connect(&settings.effective_database_url())
        .await
        .map_err(|e| e.to_string())?;
    let keys =
        app::platform::crypto::Keys::load(settings.secret_key.as_deref(), &settings.data_dir)
            .map_err(|e| e.to_string())?;
    app::audit::keyring::load(&db, &keys)
        .await
        .map_err(|e| e.to_string())?;
    let verdict = {
        let bar = progress::Bar::stderr();
        app::audit::chain::verify_with(&db.pool, &bar)
            .await
            .map_err(|e| e.to_string())?
    };
    let finding = match checkpoints {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(
                app::audit::checkpoint::check(&db, &text)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    Ok((verdict, finding))
}
