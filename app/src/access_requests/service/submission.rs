//! A partner's production request: the form checked, the facts gathered, the
//! active policy evaluated, and the route it picks followed.

use super::*;

/// The partner's form, as typed.
#[derive(Clone, Debug, Default)]
pub struct RequestForm {
    pub app_id: String,
    pub scopes: Vec<String>,
    pub justifications: BTreeMap<String, String>,
    pub calls_per_day: String,
    pub peak_per_second: String,
    pub auth_method: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub certificate: String,
    pub ip_allowlist: String,
    /// Countries (ISO 3166-1 alpha-2) the software calls from; empty: anywhere.
    pub allowed_countries: String,
    pub lifetime_days: String,
    pub go_live: String,
    /// The form's one-time key: a resubmission of the same form is the same request.
    pub submission_key: String,
}

/// A request that passed the checks.
pub(super) struct Checked {
    app: App,
    tier: Tier,
    scopes: Vec<String>,
    justifications: BTreeMap<String, String>,
    calls_per_day: i64,
    peak_per_second: i64,
    auth_method: String,
    credential_kind: &'static str,
    key_material: Option<String>,
    ip_allowlist: Vec<String>,
    allowed_countries: Vec<String>,
    lifetime_days: i64,
    go_live: String,
}

pub(super) fn org_of(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// The tier that governs `scopes`: the lowest tier, up to the approved one, that
/// holds them all.
pub(super) fn governing_tier<'a>(
    tiers: &'a [Tier],
    approved: i64,
    scopes: &[String],
) -> Option<&'a Tier> {
    tiers
        .iter()
        .filter(|t| t.level <= approved)
        .filter(|t| scopes.iter().all(|s| t.scopes.contains(s)))
        .min_by_key(|t| t.level)
}

pub(super) fn number(
    invalid: &mut Invalid,
    field: &str,
    text: &str,
    min: i64,
    max: i64,
    what: &str,
) -> i64 {
    match text.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            invalid.add(
                field,
                format!("Enter {what}: a whole number from {min} to {max}."),
            );
            0
        }
    }
}

pub(super) async fn check(state: &AppState, org_id: &str, form: &RequestForm) -> Result<Checked> {
    let app = crate::sandbox::service::get_app(state, org_id, form.app_id.trim()).await?;
    if !app.is_active() {
        return Err(Error::Invalid(Invalid::field(
            "app_id",
            "This sandbox app is revoked: production access is asked for an active app.",
        )));
    }
    let Some(approved) = approved_tier(state, org_id).await? else {
        return Err(Error::Invalid(Invalid::field(
            "scopes",
            "Your organisation has no approved tier yet: finish onboarding first.",
        )));
    };
    let tiers = catalogue::tiers(state).await?;
    let mut invalid = Invalid::new();
    let mut scopes: Vec<String> = Vec::new();
    for scope in &form.scopes {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let tier = if scopes.is_empty() {
        invalid.add("scopes", "Choose at least one scope.");
        None
    } else {
        let tier = governing_tier(&tiers, approved, &scopes);
        if tier.is_none() {
            let allowed = tiers
                .iter()
                .find(|t| t.level == approved)
                .map(|t| t.scopes.join(", "))
                .unwrap_or_default();
            invalid.add(
                "scopes",
                format!("Your organisation is approved for tier {approved}, which covers only: {allowed}. Apply for a higher tier to ask for more."),
            );
        }
        tier
    };
    let mut justifications = BTreeMap::new();
    for scope in &scopes {
        let text = form
            .justifications
            .get(scope)
            .map(|s| s.trim())
            .unwrap_or_default();
        let length = text.chars().count();
        if !(model::MIN_JUSTIFICATION..=model::MAX_JUSTIFICATION).contains(&length) {
            invalid.add(
                &format!("justification_{scope}"),
                format!(
                    "Explain why you need {scope}, in {} to {} characters.",
                    model::MIN_JUSTIFICATION,
                    model::MAX_JUSTIFICATION
                ),
            );
        } else {
            justifications.insert(scope.clone(), text.to_string());
        }
    }
    let calls_per_day = number(
        &mut invalid,
        "calls_per_day",
        &form.calls_per_day,
        1,
        100_000_000,
        "the calls you expect per day",
    );
    let peak_per_second = number(
        &mut invalid,
        "peak_per_second",
        &form.peak_per_second,
        1,
        10_000,
        "the peak calls per second",
    );
    let max_days = tier.map(|t| t.max_credential_days).unwrap_or(365);
    let lifetime_days = number(
        &mut invalid,
        "lifetime_days",
        &form.lifetime_days,
        1,
        max_days,
        "the credential lifetime in days (the tier's maximum is the upper bound)",
    );
    let auth_method = form.auth_method.trim().to_string();
    let mut credential_kind = "client_secret";
    let mut key_material = None;
    match tier {
        Some(t) if !t.client_auth.contains(&auth_method) => {
            let message = if crate::clients::model::is_secret_method(&auth_method) {
                format!(
                    "{} does not allow client secrets: use {}.",
                    t.name,
                    t.client_auth.join(" or ")
                )
            } else {
                format!("Choose one of: {}.", t.client_auth.join(", "))
            };
            invalid.add("auth_method", message);
        }
        Some(_) if auth_method == "tls_client_auth" => {
            if let Some(thumbprint) = invalid.check(
                "certificate",
                model::certificate_thumbprint(&form.certificate),
            ) {
                credential_kind = "tls_certificate";
                key_material = Some(thumbprint);
            }
        }
        Some(_) => {
            let keys = KeyMaterial {
                jwks: form.jwks.clone(),
                jwks_uri: form.jwks_uri.clone(),
                ..KeyMaterial::default()
            };
            if let Some((kind, material)) =
                sandbox::credential_material(&auth_method, &keys, &mut invalid)
            {
                credential_kind = kind;
                key_material = material;
            }
        }
        None => {}
    }
    let ip_allowlist = invalid
        .check("ip_allowlist", model::parse_allowlist(&form.ip_allowlist))
        .unwrap_or_default();
    let allowed_countries = invalid
        .check(
            "allowed_countries",
            crate::residency::parse_countries(&form.allowed_countries),
        )
        .unwrap_or_default();
    let today = evidence::today(&state.clock);
    let go_live = match crate::platform::time::parse_day(form.go_live.trim()) {
        Some(day) if day >= today && day <= today + time::Duration::days(366) => {
            crate::platform::time::iso_day(day)
        }
        Some(_) => {
            invalid.add(
                "go_live",
                "The go-live date must be from today to a year ahead.",
            );
            String::new()
        }
        None => {
            invalid.add(
                "go_live",
                "Enter the go-live date as a real date, for example 2027-03-31 or 31/03/2027.",
            );
            String::new()
        }
    };
    invalid.into_result()?;
    let tier = tier.cloned().ok_or(Error::NotFound)?;
    Ok(Checked {
        app,
        tier,
        scopes,
        justifications,
        calls_per_day,
        peak_per_second,
        auth_method,
        credential_kind,
        key_material,
        ip_allowlist,
        allowed_countries,
        lifetime_days,
        go_live,
    })
}

/// What the policy is asked about: a checked form, or a stored request's next round.
pub(super) struct Asked<'a> {
    pub(super) tier: &'a Tier,
    pub(super) scopes: &'a [String],
    pub(super) auth_method: &'a str,
    pub(super) calls_per_day: i64,
    pub(super) peak_per_second: i64,
    pub(super) ip_allowlist: &'a [String],
    pub(super) lifetime_days: i64,
}

impl Checked {
    fn asked(&self) -> Asked<'_> {
        Asked {
            tier: &self.tier,
            scopes: &self.scopes,
            auth_method: &self.auth_method,
            calls_per_day: self.calls_per_day,
            peak_per_second: self.peak_per_second,
            ip_allowlist: &self.ip_allowlist,
            lifetime_days: self.lifetime_days,
        }
    }
}

/// The facts the policy decides on, and the evidence version they came from.
pub(super) struct Gathered {
    pub(super) facts: Value,
    pub(super) evidence_version: Value,
}

pub(super) async fn gather(
    state: &AppState,
    org_id: &str,
    c: &Asked<'_>,
    readiness: &Readiness,
) -> Result<Gathered> {
    let catalogue_scopes = catalogue::scopes(state).await?;
    let class_of = |scope: &str| {
        catalogue_scopes
            .iter()
            .find(|s| s.scope == scope)
            .map(|s| (s.data_class.clone(), s.sensitivity.clone()))
            .unwrap_or_else(|| ("unknown".into(), "high".into()))
    };
    let data_classes: Vec<String> = c.scopes.iter().map(|s| class_of(s).0).collect();
    let sensitivities: Vec<String> = c.scopes.iter().map(|s| class_of(s).1).collect();
    // The dossier the organisation's highest approved tier was granted on.
    let dossier: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT d.id, d.round, d.content FROM tier_approvals t JOIN dossiers d ON d.application_id = t.application_id \
         WHERE t.org_id = $1 ORDER BY t.tier DESC, d.round DESC LIMIT 1",
    )
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let mut risk_points = 0;
    let mut failed_answers = Vec::new();
    let mut incidents = 0;
    let mut dossier_ref = Value::Null;
    if let Some((id, round, content)) = &dossier {
        let content: Value = serde_json::from_str(content).map_err(Error::internal)?;
        let answers = &content["steps"]["questionnaire"];
        if let Some(qid) = content["questionnaire"]["id"].as_str() {
            let questionnaire = catalogue::questionnaire(state, qid).await?;
            for section in &questionnaire.content.sections {
                for q in &section.questions {
                    let answer = answers[&q.id].as_str().unwrap_or("");
                    let points = q.risk_points(answer);
                    if points > 0 {
                        risk_points += points;
                        failed_answers.push(q.id.clone());
                    }
                }
            }
        }
        incidents = answers["incidents_12m"]
            .as_str()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        dossier_ref = json!({
            "dossier_id": id, "round": round,
            "questionnaire": content["questionnaire"],
        });
    }
    // Evidence freshness against the governing tier's rules, on the files held today.
    let files = evidence::list(state, org_id).await?;
    let facts: Vec<_> = files.iter().map(|f| f.facts()).collect();
    let today = evidence::today(&state.clock);
    let mut expired = Vec::new();
    let mut expiring = Vec::new();
    let mut cited = Vec::new();
    for rule in &c.tier.evidence {
        match freshness(rule, &facts, today) {
            Freshness::Fresh(id) => {
                if let Some(file) = files.iter().find(|f| f.id == id) {
                    cited.push(json!({ "id": file.id, "kind": file.kind.as_str(), "sha256": file.sha256, "expires_on": file.expires_on }));
                    let soon = crate::platform::time::parse_day(&file.expires_on)
                        .is_some_and(|d| d <= today + time::Duration::days(EXPIRING_DAYS));
                    if soon {
                        expiring.push(rule.kind.as_str().to_string());
                    }
                }
            }
            Freshness::Missing | Freshness::Stale(_) => {
                expired.push(rule.kind.as_str().to_string());
            }
        }
    }
    let now = state.clock.now();
    // Incidents the bank recorded count with those the partner reported.
    incidents += crate::incidents::recent_count(state, org_id, now).await?;
    let previous_revocations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM apps WHERE org_id = $1 AND environment = 'production' AND status = 'revoked' \
         AND (revoked_reason IS NULL OR revoked_reason <> 'retired')",
    )
    .bind(org_id)
    .fetch_one(&state.db.pool)
    .await?;
    // Governance facts: exceptions to tier rules in force, and suspensions covering
    // one of the organisation's clients or the organisation itself.
    let open_exceptions: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM policy_exceptions WHERE org_id = $1 AND status = 'granted' AND ends_at > $2",
    )
    .bind(org_id)
    .bind(state.clock.now())
    .fetch_one(&state.db.pool)
    .await?;
    let open_suspensions: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM suspensions s WHERE s.lifted_at IS NULL AND ((s.target_kind = 'organisation' AND s.target = $1) \
         OR (s.target_kind = 'client' AND s.target IN (SELECT id FROM apps WHERE org_id = $1)))",
    )
    .bind(org_id)
    .fetch_one(&state.db.pool)
    .await?;
    let rejected_requests: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM access_requests WHERE org_id = $1 AND status = 'rejected' AND decided_at >= $2",
    )
    .bind(org_id)
    .bind(now - 365 * 86_400)
    .fetch_one(&state.db.pool)
    .await?;
    let facts = json!({
        "request": {
            "scopes": c.scopes,
            "data_classes": data_classes,
            "sensitivities": sensitivities,
            "auth_method": c.auth_method,
            "calls_per_day": c.calls_per_day,
            "peak_per_second": c.peak_per_second,
            "ip_allowlist": !c.ip_allowlist.is_empty(),
            "ip_ranges": c.ip_allowlist.len(),
            "lifetime_days": c.lifetime_days,
        },
        "tier": {
            "level": c.tier.level,
            "max_credential_days": c.tier.max_credential_days,
            "rate_limit_per_minute": c.tier.rate_limit_per_minute,
        },
        "dossier": {
            "risk_points": risk_points,
            "failed_answers": failed_answers,
            "evidence_expired": expired,
            "evidence_expiring": expiring,
            "incidents": incidents,
        },
        "history": {
            "previous_revocations": previous_revocations,
            "rejected_requests": rejected_requests,
            "open_exceptions": open_exceptions,
            "open_suspensions": open_suspensions,
            "latest_review": crate::reviews::latest_outcome(state, org_id).await?,
            "open_alerts": crate::oversight::alert_life::open_count(state, org_id).await?,
        },
        "readiness": readiness.facts(),
    });
    Ok(Gathered {
        facts,
        evidence_version: json!({ "dossier": dossier_ref, "evidence": cited }),
    })
}

/// Runs the active policy on `facts`.
pub(super) fn evaluate(policy: &PolicyVersion, facts: &Value) -> Result<Decision> {
    let mut compiled = Compiled::new(&policy.source).map_err(Error::Internal)?;
    compiled.decide(facts).map_err(Error::Internal)
}

/// What the partner is told after submitting.
pub struct Submitted {
    pub id: String,
    pub route: Route,
}

/// A partner admin submits a request: checked, evaluated, routed, recorded; an
/// auto-approved request is issued its credential in the same transaction.
pub async fn submit(
    state: &AppState,
    user: &AuthUser,
    form: &RequestForm,
    client: &ClientInfo,
) -> Result<Submitted> {
    let org_id = org_of(user)?;
    let key = form.submission_key.trim();
    if key.is_empty()
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let mut invalid = Invalid::new();
        invalid.add(
            "submission_key",
            "This form is out of date: open it again from the Production page.",
        );
        return Err(Error::Invalid(invalid));
    }
    if let Some(done) = submitted_with(&state.db.pool, org_id, key).await? {
        return Ok(done);
    }
    let checked = check(state, org_id, form).await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM access_requests WHERE app_id = $1 AND status IN ('pending_review', 'pending_second_review', 'more_info')",
    )
    .bind(&checked.app.id)
    .fetch_one(&state.db.pool)
    .await?;
    if open > 0 {
        return Err(Error::Conflict(
            "This app already has an open production request: answer or wait for that one.".into(),
        ));
    }
    let now = state.clock.now();
    let readiness = readiness::assess(state, &checked.app.id, &checked.scopes, now).await?;
    let gathered = gather(state, org_id, &checked.asked(), &readiness).await?;
    let policy = active_policy(state).await?;
    let mut decision = evaluate(&policy, &gathered.facts)?;
    hold_for_agreements(state, org_id, checked.tier.level, &mut decision).await?;
    let id = ids::new_id(ids::ACCESS_REQUEST);
    let status = match decision.route {
        Route::AutoApprove => "approved",
        Route::AutoReject => "rejected",
        Route::OneReviewer | Route::FourEyes => "pending_review",
    };
    let decided = matches!(decision.route, Route::AutoApprove | Route::AutoReject);
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO access_requests (id, org_id, app_id, tier, scopes, justifications, calls_per_day, peak_per_second, \
         auth_method, key_material, ip_allowlist, lifetime_days, go_live, status, route, score, band, policy_id, \
         policy_sha256, facts, decision, evidence_version, round, submitted_by, submitted_at, updated_at, decided_at, submission_key, waiting_since, \
         allowed_countries) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 1, $23, $24, $24, $25, $26, $24, $27)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(&checked.app.id)
    .bind(checked.tier.level)
    .bind(checked.scopes.join(" "))
    .bind(serde_json::to_string(&checked.justifications).map_err(Error::internal)?)
    .bind(checked.calls_per_day)
    .bind(checked.peak_per_second)
    .bind(&checked.auth_method)
    .bind(&checked.key_material)
    .bind(checked.ip_allowlist.join(" "))
    .bind(checked.lifetime_days)
    .bind(&checked.go_live)
    .bind(status)
    .bind(decision.route.as_str())
    .bind(decision.score)
    .bind(&decision.band)
    .bind(&policy.id)
    .bind(&policy.sha256)
    .bind(gathered.facts.to_string())
    .bind(serde_json::to_string(&decision).map_err(Error::internal)?)
    .bind(gathered.evidence_version.to_string())
    .bind(&user.id)
    .bind(now)
    .bind(decided.then_some(now))
    .bind(key)
    .bind(checked.allowed_countries.join(" "))
    .execute(&mut *tx)
    .await;
    if inserted.is_err() {
        // The same form, submitted concurrently: the other submission won; its
        // outcome is this one's.
        drop(tx);
        if let Some(done) = submitted_with(&state.db.pool, org_id, key).await? {
            return Ok(done);
        }
        return Err(Error::Conflict(
            "This app already has an open production request: answer or wait for that one.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "access_request.submitted")
            .client(client)
            .org(Some(org_id))
            .resource("access_request", &id)
            .details(json!({
                "app_id": checked.app.id, "scopes": checked.scopes, "justifications": checked.justifications,
                "calls_per_day": checked.calls_per_day, "peak_per_second": checked.peak_per_second,
                "auth_method": checked.auth_method, "credential_kind": checked.credential_kind,
                "ip_allowlist": checked.ip_allowlist, "allowed_countries": checked.allowed_countries,
                "lifetime_days": checked.lifetime_days, "go_live": checked.go_live,
            })),
    )
    .await?;
    record_evaluation(
        &mut tx,
        &id,
        org_id,
        1,
        &policy,
        &gathered.facts,
        &decision,
        &gathered.evidence_version,
    )
    .await?;
    let request = load(&mut tx, &id).await?;
    follow_route(state, &mut tx, &request, &decision, now).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Submitted {
        id,
        route: decision.route,
    })
}

/// The request an earlier submission of the same form created, if any.
pub(super) async fn submitted_with(
    pool: &sqlx::AnyPool,
    org_id: &str,
    key: &str,
) -> Result<Option<Submitted>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT id, route FROM access_requests WHERE org_id = $1 AND submission_key = $2",
    )
    .bind(org_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|(id, route)| {
        Route::parse(&route)
            .map(|route| Submitted { id, route })
            .ok_or_else(|| Error::Internal(format!("unknown route {route}")))
    })
    .transpose()
}

/// An automatic approval waits for the tier's production agreements (issue 32): while
/// one is not accepted, the request goes to a reviewer instead, with that reason.
pub(super) async fn hold_for_agreements(
    state: &AppState,
    org_id: &str,
    tier: i64,
    decision: &mut Decision,
) -> Result<()> {
    if decision.route != Route::AutoApprove {
        return Ok(());
    }
    let missing = crate::agreements::unmet(state, org_id, tier, "production").await?;
    if !missing.is_empty() {
        decision.route = Route::OneReviewer;
        decision.reasons.push(crate::access_requests::policy::Reason {
            factor: crate::access_requests::policy::HELD_FOR_AGREEMENTS.into(),
            points: 0,
            detail: format!(
                "The Tier {tier} production agreements are not accepted yet: {}.",
                missing.join(", ")
            ),
            hint: "A partner admin accepts them on the Agreements page; a reviewer approves once they are.".into(),
        });
    }
    Ok(())
}

/// What the policy's route does at once: an automatic approval issues the credential,
/// an automatic rejection tells the partner what would change the outcome, and a
/// review route tells the reviewers and the partner.
pub(super) async fn follow_route(
    state: &AppState,
    tx: &mut Tx,
    request: &AccessRequest,
    decision: &Decision,
    now: i64,
) -> Result<()> {
    match decision.route {
        Route::AutoApprove => {
            let terms = request.proposed_terms();
            policy_review(tx, request, "approve", Some(&terms), now).await?;
            issue(
                state,
                tx,
                request,
                &terms,
                &Actor::system("risk policy"),
                now,
            )
            .await?;
        }
        Route::AutoReject => {
            policy_review(tx, request, "reject", None, now).await?;
            audit::record(
                tx,
                Event::new(Actor::system("risk policy"), "access_request.rejected")
                    .org(Some(&request.org_id))
                    .resource("access_request", &request.id)
                    .details(json!({ "by": "policy", "round": request.round, "policy_sha256": request.policy_sha256, "blockers": decision.blockers })),
            )
            .await?;
            notify_partner_admins(tx, &request.org_id, "Your production request was not approved", &format!(
                "The bank's risk policy did not approve your production request for {}.\n\nWhat would change the outcome:\n{}\n\nDetails: {}\n",
                request.app_name, hints(decision), link(state, request),
            )).await?;
            decided(tx, request, "rejected", now).await?;
        }
        Route::OneReviewer | Route::FourEyes => {
            notify_reviewers(tx, state, request, "pending_review").await?;
            notify_partner_admins(tx, &request.org_id, "Your production request is with the bank", &format!(
                "Your production request for {} is waiting for review ({}).\n\nFollow it here: {}\n",
                request.app_name, decision.route.label(), link(state, request),
            )).await?;
        }
    }
    Ok(())
}

/// Tells the partner's webhooks that the bank decided `request` (`decision`:
/// approved, rejected or more_information).
pub(super) async fn decided(
    tx: &mut Tx,
    request: &AccessRequest,
    decision: &str,
    now: i64,
) -> Result<()> {
    crate::webhooks::emit(
        tx,
        &request.org_id,
        "access_request.decided",
        json!({ "access_request_id": request.id, "app_name": request.app_name, "decision": decision }),
        now,
    )
    .await?;
    Ok(())
}

pub(super) fn hints(decision: &Decision) -> String {
    decision
        .what_would_change()
        .map(|r| format!("- {}", r.hint))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn link(state: &AppState, request: &AccessRequest) -> String {
    state
        .settings
        .link(&format!("/production/requests/{}", request.id))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn record_evaluation(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    round: i64,
    policy: &PolicyVersion,
    facts: &Value,
    decision: &Decision,
    evidence_version: &Value,
) -> Result<()> {
    audit::record(
        tx,
        Event::new(Actor::system("risk policy"), "access_request.evaluated")
            .org(Some(org_id))
            .resource("access_request", id)
            .details(json!({
                "round": round,
                "policy_id": policy.id, "policy_version": policy.version, "policy_sha256": policy.sha256,
                "input": facts, "output": decision, "evidence_version": evidence_version,
            })),
    )
    .await?;
    Ok(())
}

pub(super) async fn policy_review(
    tx: &mut Tx,
    request: &AccessRequest,
    decision: &str,
    terms: Option<&Terms>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_reviews (id, request_id, round, stage, reviewer_id, reviewer_email, decision, conditions, reason, step_up_at, created_at) \
         VALUES ($1, $2, $3, 0, NULL, NULL, $4, $5, $6, NULL, $7)",
    )
    .bind(ids::new_id(ids::ACCESS_REVIEW))
    .bind(&request.id)
    .bind(request.round)
    .bind(decision)
    .bind(terms.map(|t| serde_json::to_string(t).unwrap_or_default()))
    .bind(format!("Risk policy {} (score {}, {} band)", &request.policy_sha256[..12], request.score, request.band))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
