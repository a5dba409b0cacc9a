//! The reviews: a reviewer's decision (approve with narrowed terms, reject, or ask
//! for more), each approval behind a fresh TOTP step-up, and the partner's answer.

use super::*;

/// A reviewer's decision as posted.
#[derive(Clone, Debug, Default)]
pub struct ReviewForm {
    pub decision: String,
    pub reason: String,
    pub scopes: Vec<String>,
    pub lifetime_days: String,
    pub rate_limit_per_minute: String,
    pub code: String,
    pub version: String,
    /// When the reviewer's identity provider confirmed them again (a fresh
    /// multi-factor sign-in, checked by `sso`), standing for the code.
    pub idp_step_up_at: Option<i64>,
}

/// Narrowed terms: fewer scopes, a shorter lifetime, a lower rate limit; never more.
pub(super) fn narrowed(base: &Terms, form: &ReviewForm, invalid: &mut Invalid) -> Terms {
    let scopes: Vec<String> = if form.scopes.is_empty() {
        base.scopes.clone()
    } else {
        form.scopes.clone()
    };
    if let Some(extra) = scopes.iter().find(|s| !base.scopes.contains(s)) {
        invalid.add(
            "scopes",
            format!(
                "{extra} was not asked for or was already removed: conditions can only narrow."
            ),
        );
    }
    let mut field = |name: &str, text: &str, max: i64, what: &str| -> i64 {
        if text.trim().is_empty() {
            return max;
        }
        match text.trim().parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                invalid.add(
                    name,
                    format!("{what} must be a whole number from 1 to {max}."),
                );
                max
            }
        }
    };
    let lifetime_days = field(
        "lifetime_days",
        &form.lifetime_days,
        base.lifetime_days,
        "The lifetime in days",
    );
    let rate_limit_per_minute = field(
        "rate_limit_per_minute",
        &form.rate_limit_per_minute,
        base.rate_limit_per_minute,
        "The rate limit per minute",
    );
    Terms {
        scopes,
        lifetime_days,
        rate_limit_per_minute,
        sender_constraint: base.sender_constraint,
    }
}

/// Records that a conflicted reviewer tried to act.
pub(super) async fn refuse_conflict(
    state: &AppState,
    reviewer: &AuthUser,
    request: &AccessRequest,
    message: &str,
    client: &ClientInfo,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), "access_request.refused_conflict")
            .client(client)
            .outcome("failure")
            .org(Some(&request.org_id))
            .resource("access_request", &request.id)
            .details(json!({ "reason": message })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a reviewer's decision led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    AwaitingSecondReview,
    Rejected,
    MoreInformation,
}

/// A bank user decides. Four eyes: the second decision needs the approver role and
/// a different person. Approving needs a TOTP code from the reviewer's authenticator
/// (step-up), checked and used up in the decision's transaction.
pub async fn decide(
    state: &AppState,
    reviewer: &AuthUser,
    id: &str,
    form: &ReviewForm,
    client: &ClientInfo,
) -> Result<Outcome> {
    authz::check(reviewer.role, reviewer.mfa_enabled, Action::Review)
        .map_err(|d| Error::Forbidden(d.to_string()))?;
    let request = request(state, None, id).await?;
    if let Some(message) =
        crate::onboarding::review::conflict(state, &reviewer.email, &request.org_id).await?
    {
        refuse_conflict(state, reviewer, &request, &message, client).await?;
        return Err(Error::Forbidden(message));
    }
    let version: i64 = form.version.trim().parse().unwrap_or(-1);
    let already = || {
        Error::Conflict(format!(
            "This request was already decided or changed by someone else (it is now: {}). Nothing was recorded twice: open it again to see where it stands.",
            model::status_label(&request.status)
        ))
    };
    if !request.awaits_review() {
        return Err(already());
    }
    let stage = if request.status == "pending_second_review" {
        2
    } else {
        1
    };
    let reviews = reviews(state, &request.id).await?;
    if stage == 2 {
        let first = reviews
            .iter()
            .find(|r| r.round == request.round && r.stage == 1)
            .and_then(|r| r.reviewer_id.clone());
        if first.as_deref() == Some(reviewer.id.as_str()) {
            return Err(Error::Forbidden(
                "You made the first review of this request: four eyes means a different approver makes the second.".into(),
            ));
        }
        if reviewer.role != Role::Approver {
            return Err(Error::Forbidden(
                "The second review of a four-eyes request needs the approver role.".into(),
            ));
        }
    }
    let reason = form.reason.trim();
    let mut invalid = Invalid::new();
    if reason.chars().count() > 4000 {
        invalid.add("reason", "At most 4000 characters.");
    }
    let (next_status, outcome, terms) = match form.decision.as_str() {
        "approve" => {
            let terms = narrowed(&request.proposed_terms(), form, &mut invalid);
            if terms.scopes.is_empty() {
                invalid.add("scopes", "Keep at least one scope, or reject the request.");
            }
            if form.code.trim().is_empty() && form.idp_step_up_at.is_none() {
                invalid.add(
                    "code",
                    "Approving needs a fresh code from your authenticator app.",
                );
            }
            if request.route == Route::FourEyes && stage == 1 {
                (
                    "pending_second_review",
                    Outcome::AwaitingSecondReview,
                    Some(terms),
                )
            } else {
                ("approved", Outcome::Approved, Some(terms))
            }
        }
        "reject" => {
            if reason.is_empty() {
                invalid.add(
                    "reason",
                    "Give the reason for the rejection: the partner reads it.",
                );
            }
            ("rejected", Outcome::Rejected, None)
        }
        "more_info" => {
            if reason.is_empty() {
                invalid.add("reason", "Write the questions the partner should answer.");
            }
            ("more_info", Outcome::MoreInformation, None)
        }
        _ => {
            invalid.add(
                "decision",
                "Choose approve, reject or ask for more information.",
            );
            ("", Outcome::Rejected, None)
        }
    };
    invalid.into_result()?;
    if form.decision == "approve" {
        // The tier's production agreements, accepted by the partner (issue 32).
        crate::agreements::ensure_accepted(
            state,
            &request.org_id,
            request.tier,
            "production",
            &request.org_name,
        )
        .await?;
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // Deactivated meanwhile (by the identity provider, the dormancy job or an admin):
    // a decision in flight does not go through.
    let active: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND status = 'active'")
            .bind(&reviewer.id)
            .fetch_optional(&mut *tx)
            .await?;
    if active.is_none() {
        return Err(Error::Forbidden(
            "Your account is no longer active: the decision was not recorded.".into(),
        ));
    }
    let mut step_up_at = None;
    if let (true, Some(at)) = (form.decision == "approve", form.idp_step_up_at) {
        step_up_at = Some(at);
    } else if form.decision == "approve" {
        if !totp::verify_limited(state, &mut tx, &reviewer.id, &form.code).await? {
            drop(tx);
            totp::record_failed_code(state, &reviewer.id, &client.ip).await?;
            let mut tx = state.db.begin().await?;
            audit::record(
                &mut tx,
                Event::new(reviewer.actor(), "access_request.step_up_failed")
                    .client(client)
                    .outcome("failure")
                    .org(Some(&request.org_id))
                    .resource("access_request", &request.id),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Invalid(Invalid::field(
                "code",
                "That code is not valid or was already used. Enter the current code from your authenticator app.",
            )));
        }
        step_up_at = Some(now);
    }
    let updated = sqlx::query(
        "UPDATE access_requests SET status = $1, conditions = COALESCE($2, conditions), version = version + 1, \
         updated_at = $3, decided_at = CASE WHEN $1 IN ('approved', 'rejected') THEN $3 ELSE decided_at END \
         WHERE id = $4 AND status = $5 AND version = $6",
    )
    .bind(next_status)
    .bind(terms.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default()))
    .bind(now)
    .bind(&request.id)
    .bind(&request.status)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(already());
    }
    let stored = sqlx::query(
        "INSERT INTO access_reviews (id, request_id, round, stage, reviewer_id, reviewer_email, decision, conditions, reason, step_up_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(ids::new_id(ids::ACCESS_REVIEW))
    .bind(&request.id)
    .bind(request.round)
    .bind(stage)
    .bind(&reviewer.id)
    .bind(&reviewer.email)
    .bind(&form.decision)
    .bind(terms.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default()))
    .bind(reason)
    .bind(step_up_at)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if stored.is_err() {
        return Err(already());
    }
    let action = match outcome {
        Outcome::Approved => "access_request.approved",
        Outcome::AwaitingSecondReview => "access_request.first_approval",
        Outcome::Rejected => "access_request.rejected",
        Outcome::MoreInformation => "access_request.more_info",
    };
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), action)
            .client(client)
            .org(Some(&request.org_id))
            .resource("access_request", &request.id)
            .details(json!({
                "round": request.round, "stage": stage, "route": request.route.as_str(),
                "reason": reason, "conditions": terms, "step_up": step_up_at.is_some(),
                "risk_score": request.score, "policy_sha256": request.policy_sha256,
                "evidence_version": request.evidence_version,
            })),
    )
    .await?;
    let request = load(&mut tx, &request.id).await?;
    match outcome {
        Outcome::Approved => {
            let terms = terms.ok_or_else(|| Error::Internal("approval without terms".into()))?;
            issue(state, &mut tx, &request, &terms, &reviewer.actor(), now).await?;
        }
        Outcome::AwaitingSecondReview => {
            notify_reviewers(&mut tx, state, &request, "pending_second_review").await?;
        }
        Outcome::Rejected => {
            notify_partner_admins(&mut tx, &request.org_id, "Your production request was rejected", &format!(
                "The bank rejected your production request for {}.\n\nReason: {reason}\n\nDetails: {}\n",
                request.app_name, link(state, &request),
            )).await?;
            decided(&mut tx, &request, "rejected", now).await?;
        }
        Outcome::MoreInformation => {
            add_message(&mut tx, &request, &reviewer.id, true, reason, now).await?;
            notify_partner_admins(&mut tx, &request.org_id, "The bank needs more information", &format!(
                "The bank asks about your production request for {}:\n\n{reason}\n\nAnswer here: {}\n",
                request.app_name, link(state, &request),
            )).await?;
            decided(&mut tx, &request, "more_information", now).await?;
        }
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(outcome)
}

pub(super) async fn add_message(
    tx: &mut Tx,
    request: &AccessRequest,
    author_id: &str,
    from_bank: bool,
    body: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_request_messages (id, request_id, round, author_id, from_bank, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ids::new_id(ids::MESSAGE))
    .bind(&request.id)
    .bind(request.round)
    .bind(author_id)
    .bind(i64::from(from_bank))
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The partner answers the bank's questions: a new round, evaluated again on the
/// facts as they are now (readiness may have improved), routed again.
pub async fn respond(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    answer: &str,
    version: &str,
    client: &ClientInfo,
) -> Result<Route> {
    let org_id = org_of(user)?;
    let request = request(state, Some(org_id), id).await?;
    let answer = answer.trim();
    if answer.is_empty() || answer.chars().count() > 4000 {
        return Err(Error::Invalid(Invalid::field(
            "answer",
            "Answer the bank's questions, in at most 4000 characters.",
        )));
    }
    if request.status != "more_info" {
        return Err(Error::Conflict(
            "The bank is not waiting for an answer on this request.".into(),
        ));
    }
    let now = state.clock.now();
    let tier = catalogue::tier(state, request.tier).await?;
    let asked = Asked {
        tier: &tier,
        scopes: &request.scopes,
        auth_method: &request.auth_method,
        calls_per_day: request.calls_per_day,
        peak_per_second: request.peak_per_second,
        ip_allowlist: &request.ip_allowlist,
        lifetime_days: request.lifetime_days,
    };
    let readiness = readiness::assess(state, &request.app_id, &request.scopes, now).await?;
    let gathered = gather(state, org_id, &asked, &readiness).await?;
    let policy = active_policy(state).await?;
    let mut decision = evaluate(&policy, &gathered.facts)?;
    super::submission::hold_for_agreements(state, org_id, request.tier, &mut decision).await?;
    let status = match decision.route {
        Route::AutoApprove => "approved",
        Route::AutoReject => "rejected",
        _ => "pending_review",
    };
    let round = request.round + 1;
    let mut tx = state.db.begin().await?;
    let updated = sqlx::query(
        "UPDATE access_requests SET status = $1, route = $2, score = $3, band = $4, policy_id = $5, policy_sha256 = $6, \
         facts = $7, decision = $8, evidence_version = $9, round = $10, conditions = NULL, version = version + 1, updated_at = $11, \
         waiting_since = $11, decided_at = CASE WHEN $1 IN ('approved', 'rejected') THEN $11 ELSE NULL END \
         WHERE id = $12 AND org_id = $13 AND status = 'more_info' AND version = $14",
    )
    .bind(status)
    .bind(decision.route.as_str())
    .bind(decision.score)
    .bind(&decision.band)
    .bind(&policy.id)
    .bind(&policy.sha256)
    .bind(gathered.facts.to_string())
    .bind(serde_json::to_string(&decision).map_err(Error::internal)?)
    .bind(gathered.evidence_version.to_string())
    .bind(round)
    .bind(now)
    .bind(&request.id)
    .bind(org_id)
    .bind(version.trim().parse::<i64>().unwrap_or(-1))
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This request changed since you opened it (the answer may already be sent). Open it again.".into(),
        ));
    }
    let request = load(&mut tx, &request.id).await?;
    add_message(&mut tx, &request, &user.id, false, answer, now).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "access_request.answered")
            .client(client)
            .org(Some(org_id))
            .resource("access_request", &request.id)
            .details(json!({ "round": round, "answer": answer })),
    )
    .await?;
    record_evaluation(
        &mut tx,
        &request.id,
        org_id,
        round,
        &policy,
        &gathered.facts,
        &decision,
        &gathered.evidence_version,
    )
    .await?;
    follow_route(state, &mut tx, &request, &decision, now).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(decision.route)
}
