//! The offboarding job: its steps, each idempotent and done in small transactions.
//!
//! Every step picks up to `offboarding_batch` things still to end, ends each with a
//! conditional update (`… WHERE revoked_at IS NULL`), and records what it ended in
//! `offboarding_actions` with the audit event, in the same transaction. A job that
//! dies between two transactions is resumed ([`resume`]: at start-up and by the
//! scheduler) and carries on where it stopped; a second instance running the same
//! job at the same time finds nothing left to update for what the first one did.
//! On PostgreSQL only one run works on an offboarding at a time (a session advisory
//! lock on a connection of the run's own, released when the run ends or its process
//! dies), and `finish` signs the pack only once nothing of the organisation is left
//! active (review finding N5).
//! Nothing a step ended is ever started again: no step un-revokes, and the
//! organisation's suspension, taken when the offboarding was accepted, is never lifted.

use std::time::Duration;

use serde_json::{json, Value};

use crate::audit::{self, Actor, Event};
use crate::evidence_packs::{self, NewEntry, Subject};
use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// The steps, in order.
/// Open requests are withdrawn before clients are revoked, so no approval can issue a
/// client behind the "clients" step (issuance also refuses an organisation being
/// offboarded).
pub const STEPS: [&str; 7] = [
    "members",
    "requests",
    "clients",
    "consents",
    "mail",
    "sandbox_dataset",
    "evidence_pack",
];

fn actor() -> Actor {
    Actor::system("offboarding job")
}

async fn record_action(
    tx: &mut Tx,
    id: &str,
    kind: &str,
    target: &str,
    label: &str,
    now: i64,
    event: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO offboarding_actions (offboarding_id, kind, target_id, label, done_at, audit_event_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(kind)
    .bind(target)
    .bind(label)
    .bind(now)
    .bind(event)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records one audit event for `action` on `target` and the action rows it covers.
#[allow(clippy::too_many_arguments)]
async fn ended(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    action: &str,
    resource: (&str, &str),
    details: Value,
    rows: &[(&str, String, String)],
    now: i64,
) -> Result<()> {
    let event = audit::record(
        tx,
        Event::new(actor(), action)
            .org(Some(org_id))
            .resource(resource.0, resource.1)
            .details(details),
    )
    .await?;
    for (kind, target, label) in rows {
        record_action(tx, id, kind, target, label, now, &event).await?;
    }
    Ok(())
}

/// Ends up to `limit` members' accounts and sessions; the number ended.
async fn members(state: &AppState, id: &str, org_id: &str, limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let users: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, email, status FROM users WHERE org_id = $1 AND status <> 'disabled' ORDER BY id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for (user_id, email, status) in users {
        let updated = sqlx::query(
            "UPDATE users SET status = 'disabled', removed_at = COALESCE(removed_at, $1), \
             session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2 AND status <> 'disabled'",
        )
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 1 {
            ended(
                &mut tx,
                id,
                org_id,
                "offboarding.member_disabled",
                ("user", &user_id),
                json!({ "email": email, "was": status, "sessions_ended": true }),
                &[(
                    "member",
                    user_id.clone(),
                    format!("{email}: account disabled, sessions ended"),
                )],
                now,
            )
            .await?;
            done += 1;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Revokes up to `limit` clients with their credentials and refresh tokens: clients
/// registered with a software statement first, so each is in the evidence on its
/// own line before its software's revocation would take it along.
async fn clients(state: &AppState, id: &str, org_id: &str, limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let apps: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, client_id, name, environment FROM apps WHERE org_id = $1 AND status = 'active' \
         ORDER BY CASE WHEN registered_from IS NULL THEN 1 ELSE 0 END, id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for (app_id, client_id, name, environment) in apps {
        let credentials: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, kind FROM credentials WHERE app_id = $1 AND revoked_at IS NULL ORDER BY id",
        )
        .bind(&app_id)
        .fetch_all(&mut *tx)
        .await?;
        let refresh: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE app_id = $1 AND revoked_at IS NULL",
        )
        .bind(&app_id)
        .fetch_one(&mut *tx)
        .await?;
        if !crate::sandbox::service::revoke_app_rows(&mut tx, &app_id, now, "offboarded").await? {
            continue;
        }
        let mut rows = vec![(
            "client",
            app_id.clone(),
            format!("{environment} client {name} ({client_id}) revoked"),
        )];
        rows.extend(credentials.iter().map(|(cred, kind)| {
            (
                "credential",
                cred.clone(),
                format!("{kind} of {client_id} revoked"),
            )
        }));
        if refresh > 0 {
            rows.push((
                "refresh_tokens",
                app_id.clone(),
                format!("{refresh} refresh tokens of {client_id} revoked"),
            ));
        }
        ended(
            &mut tx,
            id,
            org_id,
            "offboarding.client_revoked",
            ("app", &app_id),
            json!({
                "client_id": client_id, "environment": environment,
                "credentials": credentials.iter().map(|c| &c.0).collect::<Vec<_>>(),
                "refresh_tokens": refresh,
            }),
            &rows,
            now,
        )
        .await?;
        done += 1;
    }
    tx.commit().await?;
    Ok(done)
}

/// Revokes up to `limit` customer grants and OBIE consents, and expires every unused
/// authorization code of the organisation's clients.
async fn consents(state: &AppState, id: &str, org_id: &str, limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let grants: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, customer FROM consents WHERE org_id = $1 AND status = 'granted' ORDER BY id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for (consent, customer) in grants {
        let revoked = sqlx::query(
            "UPDATE consents SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND status = 'granted'",
        )
        .bind(now)
        .bind(&consent)
        .execute(&mut *tx)
        .await?;
        let codes = sqlx::query(
            "UPDATE authorization_codes SET expires_at = $1 WHERE consent_id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(&consent)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked.rows_affected() == 1 {
            let mut rows = vec![(
                "consent",
                consent.clone(),
                format!("{customer}'s grant revoked"),
            )];
            if codes > 0 {
                rows.push((
                    "authorization_codes",
                    consent.clone(),
                    format!("{codes} unused authorization codes of {customer}'s grant expired"),
                ));
            }
            ended(
                &mut tx,
                id,
                org_id,
                "offboarding.consent_revoked",
                ("consent", &consent),
                json!({ "customer": customer, "authorization_codes": codes }),
                &rows,
                now,
            )
            .await?;
            done += 1;
        }
    }
    let intents: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, kind, status FROM ob_consents WHERE org_id = $1 \
         AND status IN ('AwaitingAuthorisation', 'Authorised') ORDER BY id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (intent, kind, status) in intents {
        let revoked = sqlx::query(
            "UPDATE ob_consents SET status = 'Revoked', status_updated_at = $1 \
             WHERE id = $2 AND status IN ('AwaitingAuthorisation', 'Authorised')",
        )
        .bind(now)
        .bind(&intent)
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() == 1 {
            ended(
                &mut tx,
                id,
                org_id,
                "offboarding.ob_consent_revoked",
                ("ob_consent", &intent),
                json!({ "kind": kind, "was": status }),
                &[(
                    "ob_consent",
                    intent.clone(),
                    format!("{kind} consent revoked (was {status})"),
                )],
                now,
            )
            .await?;
            done += 1;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Withdraws up to `limit` open onboarding applications and production requests.
async fn requests(state: &AppState, id: &str, org_id: &str, limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let mut done = 0;
    let applications: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT id, tier, status FROM applications WHERE org_id = $1 \
         AND status IN ('draft', 'submitted', 'more_info') ORDER BY id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (application, tier, status) in applications {
        let withdrawn = sqlx::query(
            "UPDATE applications SET status = 'rejected', withdrawn_at = $1, decided_at = $1, \
             decided_by = 'offboarding', decision_reason = 'Withdrawn: the organisation was offboarded.', \
             version = version + 1, updated_at = $1 WHERE id = $2 AND status IN ('draft', 'submitted', 'more_info')",
        )
        .bind(now)
        .bind(&application)
        .execute(&mut *tx)
        .await?;
        if withdrawn.rows_affected() == 1 {
            ended(
                &mut tx,
                id,
                org_id,
                "offboarding.application_withdrawn",
                ("application", &application),
                json!({ "tier": tier, "was": status }),
                &[(
                    "application",
                    application.clone(),
                    format!("Tier {tier} application withdrawn (was {status})"),
                )],
                now,
            )
            .await?;
            done += 1;
        }
    }
    let production: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT id, tier, status FROM access_requests WHERE org_id = $1 \
         AND status IN ('pending_review', 'pending_second_review', 'more_info') ORDER BY id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (request, tier, status) in production {
        let withdrawn = sqlx::query(
            "UPDATE access_requests SET status = 'rejected', withdrawn_at = $1, decided_at = $1, \
             version = version + 1, updated_at = $1 \
             WHERE id = $2 AND status IN ('pending_review', 'pending_second_review', 'more_info')",
        )
        .bind(now)
        .bind(&request)
        .execute(&mut *tx)
        .await?;
        if withdrawn.rows_affected() == 1 {
            ended(
                &mut tx,
                id,
                org_id,
                "offboarding.access_request_withdrawn",
                ("access_request", &request),
                json!({ "tier": tier, "was": status }),
                &[(
                    "access_request",
                    request.clone(),
                    format!("Tier {tier} production request withdrawn (was {status})"),
                )],
                now,
            )
            .await?;
            done += 1;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Cancels e-mail still queued for the organisation's members (one batch).
async fn mail(state: &AppState, id: &str, org_id: &str, limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let queued: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.id, o.recipient FROM outbox o WHERE o.status = 'pending' \
         AND o.recipient IN (SELECT email FROM users WHERE org_id = $1) ORDER BY o.id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = Vec::new();
    for (mail, recipient) in queued {
        let cancelled = sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = 'not sent: the organisation was offboarded' \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(&mail)
        .execute(&mut *tx)
        .await?;
        if cancelled.rows_affected() == 1 {
            rows.push((
                "mail",
                mail,
                format!("queued e-mail to {recipient} not sent"),
            ));
        }
    }
    // The organisation's webhooks stop with its mail: endpoints disabled, queued
    // deliveries cancelled.
    for (kind, endpoint, description) in crate::webhooks::stop_for_org(&mut tx, org_id, now).await?
    {
        rows.push((kind, endpoint, description));
    }
    let done = rows.len();
    if done > 0 {
        ended(
            &mut tx,
            id,
            org_id,
            "offboarding.mail_cancelled",
            ("organisation", org_id),
            json!({ "cancelled": done }),
            &rows,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Clears the organisation's sandbox dataset: its seed, payments and idempotency keys.
async fn sandbox_dataset(state: &AppState, id: &str, org_id: &str, _limit: i64) -> Result<usize> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let seeded = sqlx::query("DELETE FROM sandbox_datasets WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let payments = sqlx::query("DELETE FROM sandbox_payments WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let keys = sqlx::query(
        "DELETE FROM idempotency_keys WHERE app_id IN (SELECT id FROM apps WHERE org_id = $1)",
    )
    .bind(org_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if seeded + payments + keys == 0 {
        return Ok(0);
    }
    ended(
        &mut tx,
        id,
        org_id,
        "offboarding.sandbox_dataset_cleared",
        ("organisation", org_id),
        json!({ "dataset": seeded, "payments": payments, "idempotency_keys": keys }),
        &[(
            "sandbox_dataset",
            org_id.to_string(),
            format!("sandbox dataset cleared ({payments} payments, {keys} idempotency keys)"),
        )],
        now,
    )
    .await?;
    tx.commit().await?;
    state.datasets().forget(org_id);
    Ok(1)
}

/// What of the organisation is still active: members, clients (revoking one revokes
/// its credentials and refresh tokens in the same transaction), granted consents,
/// open production requests. The pack is signed only when all are zero.
async fn left_active(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM apps WHERE org_id = $1 AND status = 'active') \
         + (SELECT COUNT(*) FROM users WHERE org_id = $1 AND status <> 'disabled') \
         + (SELECT COUNT(*) FROM access_requests WHERE org_id = $1 AND status IN ('pending_review', 'pending_second_review', 'more_info')) \
         + (SELECT COUNT(*) FROM consents WHERE org_id = $1 AND status = 'granted')",
    )
    .bind(org_id)
    .fetch_one(&mut **tx)
    .await?)
}

/// Marks the organisation offboarded and writes the evidence pack, once, and only
/// when nothing of the organisation is left active; otherwise the next run
/// (the scheduler's `offboarding_resume`) goes through the steps again.
async fn finish(state: &AppState, id: &str, org_id: &str) -> Result<bool> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let left = left_active(&mut tx, org_id).await?;
    if left > 0 {
        tracing::warn!(
            offboarding = id,
            left,
            "offboarding not finished: some of the organisation is still active; it is resumed"
        );
        return Ok(false);
    }
    let (reason, accepted_by, requested_by): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT o.reason, a.email, r.email FROM offboardings o LEFT JOIN users a ON a.id = o.accepted_by \
             LEFT JOIN users r ON r.id = o.requested_by WHERE o.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let marked = sqlx::query(
        "UPDATE offboardings SET status = 'done', step = 'done', finished_at = $1 WHERE id = $2 AND status = 'running'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() != 1 {
        return Ok(false);
    }
    let legal_name: String = sqlx::query_scalar(
        "UPDATE organisations SET status = 'offboarded', offboarded_at = $1 WHERE id = $2 RETURNING legal_name",
    )
    .bind(now)
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await?;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT kind, COUNT(*) FROM offboarding_actions WHERE offboarding_id = $1 GROUP BY kind ORDER BY kind",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let counts: serde_json::Map<String, Value> =
        counts.into_iter().map(|(k, n)| (k, json!(n))).collect();
    let completed = audit::record(
        &mut tx,
        Event::new(actor(), "offboarding.completed")
            .org(Some(org_id))
            .resource("offboarding", id)
            .details(json!({ "organisation": legal_name, "ended": counts })),
    )
    .await?;
    record_action(
        &mut tx,
        id,
        "organisation",
        org_id,
        &format!("{legal_name} offboarded"),
        now,
        &completed,
    )
    .await?;
    let entries = super::actions(&mut *tx, id)
        .await?
        .into_iter()
        .map(
            |(kind, target_id, label, done_at, audit_event_id)| NewEntry {
                kind,
                target_id,
                label,
                done_at,
                audit_event_id,
            },
        )
        .collect();
    let title = format!("Offboarding of {legal_name}");
    let agreements = crate::agreements::pack_record(&mut tx, &[org_id], now).await?;
    let pack = evidence_packs::create(
        &mut tx,
        &state.keys,
        Subject {
            kind: "offboarding",
            subject_id: id,
            org_id: Some(org_id),
            title: &title,
            summary: json!({
                "organisation": legal_name, "reason": reason,
                "requested_by": requested_by, "accepted_by": accepted_by, "ended": counts,
                "agreements": agreements,
            }),
        },
        entries,
        now,
    )
    .await?;
    sqlx::query("UPDATE offboardings SET pack_id = $1 WHERE id = $2")
        .bind(&pack)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

async fn set_step(state: &AppState, id: &str, step: &str) -> Result<()> {
    sqlx::query("UPDATE offboardings SET step = $1 WHERE id = $2 AND status = 'running'")
        .bind(step)
        .bind(id)
        .execute(&state.db.pool)
        .await?;
    Ok(())
}

/// Runs the offboarding `id` to its end (or to where another instance already took
/// it). True when this call finished it.
pub async fn run(state: &AppState, id: &str) -> Result<bool> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT org_id, status FROM offboardings WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((org_id, status)) = row else {
        return Ok(false);
    };
    if status != "running" {
        return Ok(false);
    }
    let Some(lock) = RunLock::take(state, id).await? else {
        // Another run (this instance's or another's) is working on it.
        return Ok(false);
    };
    let result = run_steps(state, id, &org_id).await;
    lock.release().await;
    result
}

/// The steps and the end of a run that holds the offboarding's lock.
async fn run_steps(state: &AppState, id: &str, org_id: &str) -> Result<bool> {
    let org_id = org_id.to_string();
    let limit = i64::try_from(state.settings.offboarding_batch.max(1)).unwrap_or(50);
    let pause = Duration::from_millis(state.settings.offboarding_pause_ms);
    for step in &STEPS[..STEPS.len() - 1] {
        set_step(state, id, step).await?;
        loop {
            let done = match *step {
                "members" => members(state, id, &org_id, limit).await?,
                "clients" => clients(state, id, &org_id, limit).await?,
                "consents" => consents(state, id, &org_id, limit).await?,
                "requests" => requests(state, id, &org_id, limit).await?,
                "mail" => mail(state, id, &org_id, limit).await?,
                _ => sandbox_dataset(state, id, &org_id, limit).await?,
            };
            if done > 0 {
                state.oauth().cache.changed();
            }
            if !pause.is_zero() && done > 0 {
                tokio::time::sleep(pause).await;
            }
            if done == 0 || *step == "sandbox_dataset" {
                break;
            }
        }
    }
    set_step(state, id, "evidence_pack").await?;
    let finished = finish(state, id, &org_id).await?;
    if finished {
        tracing::info!(offboarding = id, org = org_id, "offboarding finished");
    }
    Ok(finished)
}

/// One run of an offboarding at a time. On PostgreSQL, a session advisory lock on a
/// connection of the run's own (not the pool's, so the lock can never stay behind
/// on a pooled connection): released at the end of the run, or by the server when
/// the process dies. On SQLite every step's transaction already takes the write
/// lock, so two runs cannot interleave a step.
struct RunLock(Option<sqlx::AnyConnection>);

impl RunLock {
    async fn take(state: &AppState, id: &str) -> Result<Option<Self>> {
        use sha2::{Digest, Sha256};
        use sqlx::Connection;
        if state.db.backend != crate::platform::db::Backend::Postgres {
            return Ok(Some(Self(None)));
        }
        let mut conn =
            sqlx::AnyConnection::connect(&state.settings.effective_database_url()).await?;
        let digest = Sha256::digest(format!("offboarding:{id}").as_bytes());
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(i64::from_be_bytes(key))
            .fetch_one(&mut conn)
            .await?;
        if taken {
            Ok(Some(Self(Some(conn))))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Closing the connection ends its session, and with it the lock.
    async fn release(self) {
        use sqlx::Connection;
        if let Some(conn) = self.0 {
            if let Err(err) = conn.close().await {
                tracing::warn!(error = %err, "closing an offboarding's lock connection failed");
            }
        }
    }
}

/// Runs every offboarding still running (start-up, the scheduler). The number finished.
pub async fn resume(state: &AppState) -> Result<usize> {
    let running: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM offboardings WHERE status = 'running' ORDER BY accepted_at, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut finished = 0;
    for id in running {
        if run(state, &id).await? {
            finished += 1;
        }
    }
    Ok(finished)
}

/// Starts running `id` in the background, now.
pub fn spawn(state: &AppState, id: &str) {
    let (state, id) = (state.clone(), id.to_string());
    tokio::spawn(async move {
        if let Err(err) = run(&state, &id).await {
            tracing::warn!(offboarding = id, error = %err, "offboarding stopped; it is resumed later");
        }
    });
}
