//! Accepting a version (a partner's signatory), what was accepted, and the
//! suspensions an acceptance cures.

use super::*;

/// An organisation's acceptance of a version, as the record shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Acceptance {
    pub version_id: String,
    pub org_id: String,
    pub organisation: String,
    pub email: String,
    pub accepted_at: i64,
    pub ip: String,
    pub sha256: String,
    /// The document's title and the version's number.
    pub title: String,
    pub version: i64,
}

impl Acceptance {
    /// The version's name, as [`Version::name`] gives it.
    pub fn name(&self) -> String {
        format!("{} v{}", self.title, self.version)
    }
}

const ACCEPTANCE_COLUMNS: &str = "a.version_id, a.org_id, o.legal_name AS organisation, u.email, a.accepted_at, a.ip, a.sha256, \
     d.title, v.version \
     FROM agreement_acceptances a JOIN organisations o ON o.id = a.org_id JOIN users u ON u.id = a.user_id \
     JOIN agreement_versions v ON v.id = a.version_id JOIN agreement_documents d ON d.id = v.document_id";

/// Who accepted `version_id` (bank staff).
pub async fn acceptances_of(state: &AppState, version_id: &str) -> Result<Vec<Acceptance>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCEPTANCE_COLUMNS} WHERE a.version_id = $1 ORDER BY a.accepted_at, o.legal_name"
    ))
    .bind(version_id)
    .fetch_all(&state.db.pool)
    .await?)
}

/// What `org_id` has accepted, newest first.
pub async fn accepted_by(state: &AppState, org_id: &str) -> Result<Vec<Acceptance>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCEPTANCE_COLUMNS} WHERE a.org_id = $1 ORDER BY a.accepted_at DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?)
}

/// Accepts `version_id` for the signatory's organisation, with a second-factor code:
/// only the version in force or one published to take effect, once. Lifts the
/// organisation's agreement suspensions when nothing is overdue any more.
pub async fn accept(
    state: &AppState,
    signatory: &AuthUser,
    client: &ClientInfo,
    version_id: &str,
    code: &str,
) -> Result<Version> {
    let org_id = signatory.org_id.as_deref().ok_or(Error::NotFound)?;
    let accepted = version(state, version_id).await?;
    let now = state.clock.now();
    let newest: Option<(i64, i64)> = sqlx::query_as(
        "SELECT version, effective_at FROM agreement_versions WHERE document_id = $1 AND (effective_at <= $2 OR id = $3) \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(&accepted.document_id)
    .bind(now)
    .bind(version_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let in_force = newest.is_some_and(|(number, _)| number == accepted.version);
    let ahead = accepted.effective_at > now;
    if !in_force && !ahead {
        return Err(Error::Conflict(format!(
            "{} has been replaced by a newer version: accept the version in force instead.",
            accepted.name()
        )));
    }
    if code.trim().is_empty() {
        return Err(Error::Invalid(Invalid::field(
            "code",
            "Enter the current code from your authenticator app.",
        )));
    }
    let done: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM agreement_acceptances WHERE version_id = $1 AND org_id = $2",
    )
    .bind(version_id)
    .bind(org_id)
    .fetch_one(&state.db.pool)
    .await?;
    if done > 0 {
        return Err(Error::Conflict(format!(
            "Your organisation has already accepted {}.",
            accepted.name()
        )));
    }
    let tx = state.db.begin().await?;
    let mut tx = totp::step_up(state, tx, &signatory.id, code, &client.ip).await?;
    if !record_acceptance(&mut tx, signatory, org_id, &accepted, &client.ip, now).await? {
        return Err(Error::Conflict(format!(
            "Your organisation has already accepted {}.",
            accepted.name()
        )));
    }
    audit::record(
        &mut tx,
        Event::new(signatory.actor(), "agreement.accepted")
            .client(client)
            .org(Some(org_id))
            .resource("agreement_version", version_id)
            .details(json!({
                "title": accepted.title, "version": accepted.version, "sha256": accepted.sha256,
                "tier": accepted.tier, "environment": accepted.environment, "step_up": true,
            })),
    )
    .await?;
    // The warnings about this version are settled.
    sqlx::query(
        "UPDATE governance_notices SET resolved_at = $1 WHERE org_id = $2 AND kind = 'agreement_warning' \
         AND resolved_at IS NULL AND key LIKE $3",
    )
    .bind(now)
    .bind(org_id)
    .bind(format!("agreement_warning:{version_id}:%"))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The acceptance stands whatever happens next; a suspension this could not lift
    // now is lifted by the next sweep.
    if let Err(error) = lift_if_cured(state, org_id).await {
        tracing::warn!(%error, org_id, "lifting agreement suspensions after an acceptance");
    }
    Ok(accepted)
}

/// The agreements an evidence pack names (offboarding, access-review campaigns),
/// read in the pack's own transaction: every version in force at `now` with its
/// hash, and what each of `org_ids` accepted (who, when, which hash).
pub async fn pack_record(
    tx: &mut crate::platform::db::Tx,
    org_ids: &[&str],
    now: i64,
) -> Result<serde_json::Value> {
    let versions: Vec<Version> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE v.effective_at <= $1 AND v.version = (SELECT MAX(w.version) FROM agreement_versions w \
         WHERE w.document_id = v.document_id AND w.effective_at <= $1) ORDER BY d.tier, d.environment, d.kind"
    ))
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let in_force: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            json!({
                "title": v.title, "kind": v.kind, "environment": v.environment, "tier": v.tier,
                "version": v.version, "sha256": v.sha256, "effective_at": time::rfc3339(v.effective_at),
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for org_id in org_ids {
        let rows: Vec<(String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT d.title, v.version, a.sha256, a.accepted_at, u.email FROM agreement_acceptances a \
             JOIN agreement_versions v ON v.id = a.version_id JOIN agreement_documents d ON d.id = v.document_id \
             JOIN users u ON u.id = a.user_id WHERE a.org_id = $1 ORDER BY a.accepted_at, d.title",
        )
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?;
        accepted.extend(rows.into_iter().map(|(title, version, sha, at, email)| {
            json!({
                "org_id": org_id, "title": title, "version": version, "sha256": sha,
                "accepted_at": time::rfc3339(at), "signatory": email,
            })
        }));
    }
    Ok(json!({ "in_force": in_force, "accepted": accepted }))
}

/// Records `signatory`'s acceptance of `version` for `org_id` in `tx`, with the hash
/// of the exact text; false when the organisation had already accepted it.
pub(crate) async fn record_acceptance(
    tx: &mut crate::platform::db::Tx,
    signatory: &AuthUser,
    org_id: &str,
    version: &Version,
    ip: &str,
    now: i64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO agreement_acceptances (id, version_id, org_id, user_id, accepted_at, ip, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (version_id, org_id) DO NOTHING",
    )
    .bind(ids::new_id("aga"))
    .bind(&version.id)
    .bind(org_id)
    .bind(&signatory.id)
    .bind(now)
    .bind(ip)
    .bind(digest(&version.body))
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether production client `app_id` is under a tier with a production agreement
/// overdue (no acceptance holds and the deadline has passed).
pub async fn overdue_for_app(state: &AppState, app_id: &str) -> Result<bool> {
    let mut conn = state.db.pool.acquire().await?;
    overdue_on(&mut conn, app_id, state.clock.now()).await
}

/// [`overdue_for_app`] on a connection the caller holds (the sweep's transaction).
pub async fn overdue_on(conn: &mut sqlx::AnyConnection, app_id: &str, now: i64) -> Result<bool> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT a.org_id, COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) \
         FROM apps a LEFT JOIN access_requests r ON r.id = a.access_request_id WHERE a.id = $1",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((org_id, tier)) = row else {
        return Ok(false);
    };
    let owed = obligations_on(conn, &org_id, tier.unwrap_or(0), "production", now).await?;
    Ok(owed.iter().any(|o| o.is_overdue(now)))
}

/// The organisation's production clients suspended for an agreement, lifted when no
/// production obligation of their tier is overdue any more (each in one transaction
/// with its notices settled, audited); how many were lifted.
pub async fn lift_if_cured(state: &AppState, org_id: &str) -> Result<u64> {
    let suspended: Vec<String> = sqlx::query_scalar(
        "SELECT a.id FROM suspensions s JOIN apps a ON a.id = s.target \
         WHERE s.target_kind = 'client' AND s.origin = 'agreement' AND s.lifted_at IS NULL AND a.org_id = $1",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let now = state.clock.now();
    let mut lifted = 0;
    for app_id in suspended {
        if overdue_for_app(state, &app_id).await? {
            continue;
        }
        let mut tx = state.db.begin().await?;
        let done = sqlx::query(
            "UPDATE suspensions SET lifted_at = $1, lifted_by = 'agreements', lift_reason = 'the agreement was accepted' \
             WHERE target_kind = 'client' AND target = $2 AND origin = 'agreement' AND lifted_at IS NULL",
        )
        .bind(now)
        .bind(&app_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            sqlx::query(
                "UPDATE governance_notices SET resolved_at = $1 WHERE app_id = $2 AND kind = 'suspend_for_agreement' AND resolved_at IS NULL",
            )
            .bind(now)
            .bind(&app_id)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                Event::new(
                    crate::platform::audit::Actor::system("agreements"),
                    "governance.agreement_restored",
                )
                .org(Some(org_id))
                .resource("app", &app_id)
                .details(json!({ "origin": "agreement" })),
            )
            .await?;
        }
        tx.commit().await?;
        lifted += done;
    }
    if lifted > 0 {
        state.oauth().cache.changed();
    }
    Ok(lifted)
}
