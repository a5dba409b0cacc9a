//! Issuing the production client of an approved request, collecting its secret
//! once, and the notices to reviewers (new requests, overdue ones).

use super::*;

/// Issues the production client for an approved request, under the production
/// issuer: the approved scopes, rate limit, allow-list and sender constraint; a
/// credential expiring after the approved lifetime, bound to the registered key or
/// certificate. A client secret is not made here: the partner collects it, once.
pub(super) async fn issue(
    state: &AppState,
    tx: &mut Tx,
    request: &AccessRequest,
    terms: &Terms,
    by: &Actor,
    now: i64,
) -> Result<()> {
    // No production client for an organisation being offboarded, or offboarded
    // (review finding L1): the offboarding's pack must list every client it ended.
    let leaving: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM organisations o WHERE o.id = $1 AND (o.status = 'offboarded' \
         OR EXISTS (SELECT 1 FROM offboardings f WHERE f.org_id = o.id AND f.status = 'running'))",
    )
    .bind(&request.org_id)
    .fetch_one(&mut **tx)
    .await?;
    if leaving > 0 {
        return Err(Error::Conflict(
            "This organisation is being offboarded: no production client can be issued to it."
                .into(),
        ));
    }
    let sandbox_app: (String, String, String) =
        sqlx::query_as("SELECT name, purpose, owner_id FROM apps WHERE id = $1")
            .bind(&request.app_id)
            .fetch_one(&mut **tx)
            .await?;
    let taken: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM apps WHERE org_id = $1 AND environment = 'production' AND name = $2",
    )
    .bind(&request.org_id)
    .bind(&sandbox_app.0)
    .fetch_one(&mut **tx)
    .await?;
    let name = if taken == 0 {
        sandbox_app.0.clone()
    } else {
        format!("{} ({})", sandbox_app.0, request.id)
    };
    let app_id = ids::new_id(ids::APP);
    let client_id = ids::new_id(ids::CLIENT);
    let dpop_required = terms.sender_constraint && request.auth_method != "tls_client_auth";
    sqlx::query(
        "INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, ip_allowlist, access_request_id, status, created_by, created_at, updated_at, \
         allowed_countries) \
         VALUES ($1, $2, 'production', $3, $4, $5, $6, $7, '', $8, $9, $10, $11, $12, 'active', $13, $14, $14, $15)",
    )
    .bind(&app_id)
    .bind(&request.org_id)
    .bind(&client_id)
    .bind(&name)
    .bind(&sandbox_app.1)
    .bind(&sandbox_app.2)
    .bind(terms.scopes.join(" "))
    .bind(&request.auth_method)
    .bind(i64::from(dpop_required))
    .bind(terms.rate_limit_per_minute)
    .bind(request.ip_allowlist.join(" "))
    .bind(&request.id)
    .bind(by.label.clone().unwrap_or_default())
    .bind(now)
    .bind(request.allowed_countries.join(" "))
    .execute(&mut **tx)
    .await?;
    let expires_at = now + terms.lifetime_days * 86_400;
    let credential_id = if request.uses_secret() {
        None
    } else {
        let kind = match request.auth_method.as_str() {
            // Requests made before certificates were registered kept only a subject
            // DN (it contains `=`; a base64url thumbprint never does). Such a
            // subject is trusted only under a partner CA (RFC 8705 §2.1).
            "tls_client_auth"
                if request
                    .key_material
                    .as_deref()
                    .is_some_and(|m| m.contains('=')) =>
            {
                "tls_subject"
            }
            "tls_client_auth" => "tls_certificate",
            _ if request
                .key_material
                .as_deref()
                .is_some_and(|m| m.starts_with("https://")) =>
            {
                "jwks_uri"
            }
            _ => "jwks",
        };
        let (id, _) = sandbox::insert_credential(
            state,
            tx,
            &app_id,
            kind,
            request.key_material.clone(),
            &by.label.clone().unwrap_or_default(),
            (now, expires_at),
        )
        .await?;
        Some(id)
    };
    sqlx::query("UPDATE access_requests SET production_app_id = $1, conditions = $2 WHERE id = $3")
        .bind(&app_id)
        .bind(serde_json::to_string(terms).map_err(Error::internal)?)
        .bind(&request.id)
        .execute(&mut **tx)
        .await?;
    let approvers: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT stage, reviewer_email FROM access_reviews WHERE request_id = $1 AND round = $2 AND decision = 'approve' ORDER BY stage",
    )
    .bind(&request.id)
    .bind(request.round)
    .fetch_all(&mut **tx)
    .await?;
    audit::record(
        tx,
        Event::new(by.clone(), "production_credential.issued")
            .org(Some(&request.org_id))
            .resource("app", &app_id)
            .details(json!({
                "access_request_id": request.id, "client_id": client_id, "credential_id": credential_id,
                "scopes": terms.scopes, "lifetime_days": terms.lifetime_days, "expires_at": expires_at,
                "rate_limit_per_minute": terms.rate_limit_per_minute, "dpop_required": dpop_required,
                "ip_allowlist": request.ip_allowlist, "auth_method": request.auth_method,
                "approvers": approvers.iter().map(|(stage, email)| json!({ "stage": stage, "by": email.clone().unwrap_or_else(|| "risk policy".into()) })).collect::<Vec<_>>(),
                "risk_score": request.score, "band": request.band, "route": request.route.as_str(),
                "policy_id": request.policy_id, "policy_sha256": request.policy_sha256,
                "evidence_version": request.evidence_version,
            })),
    )
    .await?;
    let collect = if request.uses_secret() {
        "Collect the client secret on the request page: it is shown once."
    } else {
        "Authenticate with the key or certificate you registered."
    };
    notify_partner_admins(tx, &request.org_id,
        "Your production credentials are ready",
        &format!(
            "Your production request for {} was approved.\n\nClient id: {client_id}\nScopes: {}\nExpires: {}\nToken endpoint: {}\n\n{collect}\n\nDetails: {}\n",
            request.app_name,
            terms.scopes.join(" "),
            crate::platform::time::display(expires_at),
            state.settings.link(&crate::oauth::Issuer::Production.path(crate::oauth::token::PATH)),
            link(state, request),
        ),
    )
    .await?;
    decided(tx, request, "approved", now).await?;
    Ok(())
}

/// The partner admin collects the production client secret of an approved request:
/// made now, shown once, stored as a keyed hash; a second collection is refused.
pub async fn collect_secret(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    client: &ClientInfo,
) -> Result<(String, String)> {
    let org_id = org_of(user)?;
    let request = request(state, Some(org_id), id).await?;
    let (Some(app_id), Some(terms), Some(decided_at)) = (
        &request.production_app_id,
        &request.terms,
        request.decided_at,
    ) else {
        return Err(Error::Conflict(
            "This request has no approved credential.".into(),
        ));
    };
    if !request.uses_secret() {
        return Err(Error::Conflict(
            "This credential authenticates with your key or certificate: there is no secret."
                .into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let claimed = sqlx::query(
        "UPDATE access_requests SET secret_collected = 1, updated_at = $1 WHERE id = $2 AND org_id = $3 AND secret_collected = 0",
    )
    .bind(now)
    .bind(&request.id)
    .bind(org_id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        return Err(Error::Conflict(
            "The secret was already collected and is never shown again. If it is lost, ask the bank to revoke the credential.".into(),
        ));
    }
    let expires_at = decided_at + terms.lifetime_days * 86_400;
    let (credential_id, secret) = sandbox::insert_credential(
        state,
        &mut tx,
        app_id,
        "client_secret",
        None,
        &user.id,
        (now, expires_at),
    )
    .await?;
    let secret = secret.ok_or_else(|| Error::Internal("no secret generated".into()))?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "production_credential.secret_collected")
            .client(client)
            .org(Some(org_id))
            .resource("app", app_id)
            .details(json!({ "access_request_id": request.id, "credential_id": credential_id, "expires_at": expires_at })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    let client_id: String = sqlx::query_scalar("SELECT client_id FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok((client_id, secret))
}

/// The production clients of an organisation with their credentials.
pub async fn production_apps(
    state: &AppState,
    org_id: &str,
) -> Result<Vec<(App, Vec<crate::clients::model::Credential>)>> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM apps WHERE org_id = $1 AND environment = 'production' ORDER BY created_at DESC, id DESC",
        crate::clients::model::APP_COLUMNS
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        let app = App::from_row(row)?;
        let credentials = crate::sandbox::service::credentials(state, &app).await?;
        out.push((app, credentials));
    }
    Ok(out)
}

pub(super) async fn notify_reviewers(
    tx: &mut Tx,
    state: &AppState,
    request: &AccessRequest,
    stage: &str,
) -> Result<()> {
    let roles = if stage == "pending_second_review" {
        "('approver')"
    } else {
        "('reviewer', 'approver')"
    };
    let emails: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT email FROM users WHERE role IN {roles} AND status = 'active' ORDER BY email"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let what = if stage == "pending_second_review" {
        "needs the second approval (four eyes)"
    } else {
        "is waiting for review"
    };
    let body = format!(
        "{}'s production request for {} ({}) {what}: {}, score {} ({} band).\n\n{}\n",
        request.org_name,
        request.app_name,
        request.scopes.join(" "),
        request.route.label(),
        request.score,
        request.band,
        state
            .settings
            .link(&format!("/review/production/{}", request.id)),
    );
    for email in emails {
        crate::mail::enqueue(
            tx,
            &email,
            &format!("Production request to review: {}", request.org_name),
            &body,
        )
        .await?;
    }
    Ok(())
}

/// Escalation: requests waiting past their tier's review SLA are escalated once to
/// the approvers and admins. Run by the maintenance job; the conditional update
/// makes sure only one instance escalates a request.
pub async fn escalate_overdue(state: &AppState) -> Result<usize> {
    let now = state.clock.now();
    let overdue: Vec<String> = sqlx::query_scalar(
        "SELECT r.id FROM access_requests r JOIN tiers t ON t.level = r.tier \
         WHERE r.status IN ('pending_review', 'pending_second_review') AND r.escalated_at IS NULL \
         AND r.waiting_since + t.review_sla_hours * 3600 < $1",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    let mut escalated = 0;
    for id in overdue {
        let mut tx = state.db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE access_requests SET escalated_at = $1 WHERE id = $2 AND escalated_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let request = load(&mut tx, &id).await?;
        let emails: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE role IN ('approver', 'admin') AND status = 'active' ORDER BY email",
        )
        .fetch_all(&mut *tx)
        .await?;
        for email in emails {
            crate::mail::enqueue(
                &mut tx,
                &email,
                &format!("Overdue production request: {}", request.org_name),
                &format!(
                    "{}'s production request for {} has waited past its review SLA.\n\n{}\n",
                    request.org_name,
                    request.app_name,
                    state
                        .settings
                        .link(&format!("/review/production/{}", request.id)),
                ),
            )
            .await?;
        }
        audit::record(
            &mut tx,
            Event::new(Actor::system("escalation"), "access_request.escalated")
                .org(Some(&request.org_id))
                .resource("access_request", &request.id),
        )
        .await?;
        tx.commit().await?;
        escalated += 1;
    }
    if escalated > 0 {
        state.mail_wakeup.notify_one();
    }
    Ok(escalated)
}
