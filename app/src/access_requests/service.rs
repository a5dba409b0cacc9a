//! The business rules of production access: the partner's request (checked, then
//! evaluated by the active risk policy on facts Gatehouse gathers itself), the route
//! the policy picks, the reviews (one reviewer, or four eyes with distinct people,
//! each approval with a fresh TOTP step-up), and issuance under the production
//! issuer. Every state change is a conditional update on (status, version) inside a
//! transaction, recorded in the audit trail with its full input and output.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::model::{self, AccessRequest, Terms};
use super::policy::{self, Compiled, Decision, Route};
use super::readiness::{self, Readiness};
use crate::accounts::authz::Action;
use crate::accounts::{authz, totp, Role};
use crate::audit::{self, Actor, Event};
use crate::clients::model::App;
use crate::onboarding::model::{freshness, Freshness, Tier};
use crate::onboarding::service::{approved_tier, notify_partner_admins};
use crate::onboarding::{catalogue, evidence};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;
use crate::sandbox::service::{self as sandbox, KeyMaterial};

/// Evidence expiring within this many days counts as "expiring" for the policy.
pub const EXPIRING_DAYS: i64 = 30;

// ---------------------------------------------------------------- the policy store

#[derive(Clone, Debug)]
pub struct PolicyVersion {
    pub id: String,
    pub version: i64,
    pub sha256: String,
    pub source: String,
    pub tests: String,
    pub note: String,
    pub active: bool,
    pub created_by: String,
    pub created_at: i64,
}

const POLICY_SELECT: &str =
    "SELECT id, version, sha256, source, tests, note, active, created_by, created_at FROM risk_policies";

fn policy_of(row: &AnyRow) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        source: row.try_get("source")?,
        tests: row.try_get("tests")?,
        note: row.try_get("note")?,
        active: row.try_get::<i64, _>("active")? == 1,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// On start: the bundled default policy is version 1 when there is none.
pub async fn ensure_default_policy(state: &AppState) -> Result<()> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM risk_policies")
        .fetch_one(&state.db.pool)
        .await?;
    if count > 0 {
        return Ok(());
    }
    let id = ids::new_id(ids::POLICY);
    let sha = policy::hash(policy::DEFAULT_POLICY, policy::DEFAULT_TESTS);
    // The policy and its audit event commit together: a crash cannot keep one
    // without the other (issue 18 item 12).
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO risk_policies (id, version, sha256, source, tests, note, active, created_by, created_at) \
         VALUES ($1, 1, $2, $3, $4, 'The default policy bundled with Gatehouse.', 1, 'gatehouse', $5) \
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(&id)
    .bind(&sha)
    .bind(policy::DEFAULT_POLICY)
    .bind(policy::DEFAULT_TESTS)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 1 {
        audit::record(
            &mut tx,
            Event::new(Actor::system("gatehouse"), "policy.installed")
                .resource("policy", &id)
                .details(json!({ "version": 1, "sha256": sha })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn active_policy(state: &AppState) -> Result<PolicyVersion> {
    let row = sqlx::query(&format!("{POLICY_SELECT} WHERE active = 1"))
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| Error::Internal("no risk policy is active".into()))?;
    policy_of(&row)
}

/// The version number of policy `id`.
pub async fn policy_version(state: &AppState, id: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT version FROM risk_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?,
    )
}

pub async fn policies(state: &AppState) -> Result<Vec<PolicyVersion>> {
    let rows = sqlx::query(&format!("{POLICY_SELECT} ORDER BY version DESC"))
        .fetch_all(&state.db.pool)
        .await?;
    rows.iter().map(policy_of).collect()
}

/// A bank admin replaces the policy. It must compile and pass its own test table
/// (covering every route) or it is refused and the active one stays.
pub async fn replace_policy(
    state: &AppState,
    admin: &AuthUser,
    source: &str,
    tests: &str,
    note: &str,
    client: &ClientInfo,
) -> Result<PolicyVersion> {
    let note = note.trim();
    let mut invalid = Invalid::new();
    if note.is_empty() || note.chars().count() > 500 {
        invalid.add(
            "note",
            "Say what changed and why, in at most 500 characters.",
        );
    }
    if source.trim().is_empty() {
        invalid.add("source", "Paste the Rego policy.");
    }
    if tests.trim().is_empty() {
        invalid.add("tests", "Paste the policy's test table (JSON).");
    }
    invalid.into_result()?;
    let passed = match policy::run_tests(source, tests) {
        Ok(passed) => passed,
        Err(failures) => {
            let mut tx = state.db.begin().await?;
            audit::record(
                &mut tx,
                Event::new(admin.actor(), "policy.refused")
                    .client(client)
                    .outcome("failure")
                    .details(
                        json!({ "sha256": policy::hash(source, tests), "failures": failures }),
                    ),
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Invalid(Invalid::field(
                "source",
                format!(
                    "The policy was refused and the active one stays. {}",
                    failures.join(" · ")
                ),
            )));
        }
    };
    let sha = policy::hash(source, tests);
    let id = ids::new_id(ids::POLICY);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let current: (String, i64) =
        sqlx::query_as("SELECT id, version FROM risk_policies WHERE active = 1")
            .fetch_one(&mut *tx)
            .await?;
    let retired = sqlx::query("UPDATE risk_policies SET active = 0 WHERE id = $1 AND active = 1")
        .bind(&current.0)
        .execute(&mut *tx)
        .await?;
    if retired.rows_affected() != 1 {
        return Err(Error::Conflict(
            "Another admin replaced the policy at the same time; look at the new version first."
                .into(),
        ));
    }
    let version = current.1 + 1;
    sqlx::query(
        "INSERT INTO risk_policies (id, version, sha256, source, tests, note, active, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
    )
    .bind(&id)
    .bind(version)
    .bind(&sha)
    .bind(source)
    .bind(tests)
    .bind(note)
    .bind(&admin.email)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|_| {
        Error::Conflict("Another admin replaced the policy at the same time.".into())
    })?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "policy.replaced")
            .client(client)
            .resource("policy", &id)
            .details(json!({ "version": version, "sha256": sha, "previous": current.0, "tests_passed": passed, "note": note })),
    )
    .await?;
    tx.commit().await?;
    active_policy(state).await
}

// ---------------------------------------------------------------- the request

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
    pub lifetime_days: String,
    pub go_live: String,
    /// The form's one-time key: a resubmission of the same form is the same request.
    pub submission_key: String,
}

/// A request that passed the checks.
struct Checked {
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
    lifetime_days: i64,
    go_live: String,
}

fn org_of(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// The tier that governs `scopes`: the lowest tier, up to the approved one, that
/// holds them all.
fn governing_tier<'a>(tiers: &'a [Tier], approved: i64, scopes: &[String]) -> Option<&'a Tier> {
    tiers
        .iter()
        .filter(|t| t.level <= approved)
        .filter(|t| scopes.iter().all(|s| t.scopes.contains(s)))
        .min_by_key(|t| t.level)
}

fn number(invalid: &mut Invalid, field: &str, text: &str, min: i64, max: i64, what: &str) -> i64 {
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

async fn check(state: &AppState, org_id: &str, form: &RequestForm) -> Result<Checked> {
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
    let today = evidence::today(&state.clock);
    let go_live = match crate::platform::time::parse_day(form.go_live.trim()) {
        Some(day) if day >= today && day <= today + time::Duration::days(366) => {
            form.go_live.trim().to_string()
        }
        Some(_) => {
            invalid.add(
                "go_live",
                "The go-live date must be from today to a year ahead.",
            );
            String::new()
        }
        None => {
            invalid.add("go_live", "Enter the go-live date as YYYY-MM-DD.");
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
        lifetime_days,
        go_live,
    })
}

/// What the policy is asked about: a checked form, or a stored request's next round.
struct Asked<'a> {
    tier: &'a Tier,
    scopes: &'a [String],
    auth_method: &'a str,
    calls_per_day: i64,
    peak_per_second: i64,
    ip_allowlist: &'a [String],
    lifetime_days: i64,
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
struct Gathered {
    facts: Value,
    evidence_version: Value,
}

async fn gather(
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
fn evaluate(policy: &PolicyVersion, facts: &Value) -> Result<Decision> {
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
    let decision = evaluate(&policy, &gathered.facts)?;
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
         policy_sha256, facts, decision, evidence_version, round, submitted_by, submitted_at, updated_at, decided_at, submission_key, waiting_since) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 1, $23, $24, $24, $25, $26, $24)",
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
                "ip_allowlist": checked.ip_allowlist, "lifetime_days": checked.lifetime_days, "go_live": checked.go_live,
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
async fn submitted_with(
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

/// What the policy's route does at once: an automatic approval issues the credential,
/// an automatic rejection tells the partner what would change the outcome, and a
/// review route tells the reviewers and the partner.
async fn follow_route(
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
async fn decided(tx: &mut Tx, request: &AccessRequest, decision: &str, now: i64) -> Result<()> {
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

fn hints(decision: &Decision) -> String {
    decision
        .what_would_change()
        .map(|r| format!("- {}", r.hint))
        .collect::<Vec<_>>()
        .join("\n")
}

fn link(state: &AppState, request: &AccessRequest) -> String {
    state
        .settings
        .link(&format!("/production/requests/{}", request.id))
}

#[allow(clippy::too_many_arguments)]
async fn record_evaluation(
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

async fn policy_review(
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

// ---------------------------------------------------------------- reading

const REQUEST_SELECT: &str = "SELECT r.*, o.legal_name AS org_name, a.name AS app_name \
     FROM access_requests r JOIN organisations o ON o.id = r.org_id JOIN apps a ON a.id = r.app_id";

fn request_of(row: &AnyRow) -> Result<AccessRequest> {
    let json = |name: &str| -> Result<Value> {
        let text: String = row.try_get(name)?;
        serde_json::from_str(&text).map_err(Error::internal)
    };
    let route: String = row.try_get("route")?;
    let terms: Option<String> = row.try_get("conditions")?;
    Ok(AccessRequest {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        app_id: row.try_get("app_id")?,
        app_name: row.try_get("app_name")?,
        tier: row.try_get("tier")?,
        scopes: crate::clients::catalogue::split(&row.try_get::<String, _>("scopes")?),
        justifications: serde_json::from_value(json("justifications")?).map_err(Error::internal)?,
        calls_per_day: row.try_get("calls_per_day")?,
        peak_per_second: row.try_get("peak_per_second")?,
        auth_method: row.try_get("auth_method")?,
        key_material: row.try_get("key_material")?,
        ip_allowlist: row
            .try_get::<String, _>("ip_allowlist")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        lifetime_days: row.try_get("lifetime_days")?,
        go_live: row.try_get("go_live")?,
        status: row.try_get("status")?,
        route: Route::parse(&route)
            .ok_or_else(|| Error::Internal(format!("unknown route {route}")))?,
        score: row.try_get("score")?,
        band: row.try_get("band")?,
        policy_id: row.try_get("policy_id")?,
        policy_sha256: row.try_get("policy_sha256")?,
        facts: json("facts")?,
        decision: serde_json::from_value(json("decision")?).map_err(Error::internal)?,
        evidence_version: json("evidence_version")?,
        terms: terms
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(Error::internal)?,
        round: row.try_get("round")?,
        assigned_to: row.try_get("assigned_to")?,
        production_app_id: row.try_get("production_app_id")?,
        secret_collected: row.try_get::<i64, _>("secret_collected")? != 0,
        escalated_at: row.try_get("escalated_at")?,
        version: row.try_get("version")?,
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: row.try_get("submitted_at")?,
        waiting_since: row.try_get("waiting_since")?,
        updated_at: row.try_get("updated_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

async fn load(tx: &mut Tx, id: &str) -> Result<AccessRequest> {
    let row = sqlx::query(&format!("{REQUEST_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    request_of(&row)
}

/// One request: a partner sees only their organisation's (`org` set), staff any.
pub async fn request(state: &AppState, org: Option<&str>, id: &str) -> Result<AccessRequest> {
    let row = match org {
        Some(org_id) => {
            sqlx::query(&format!(
                "{REQUEST_SELECT} WHERE r.id = $1 AND r.org_id = $2"
            ))
            .bind(id)
            .bind(org_id)
            .fetch_optional(&state.db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!("{REQUEST_SELECT} WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(&state.db.pool)
                .await?
        }
    };
    request_of(&row.ok_or(Error::NotFound)?)
}

const NEWEST_FIRST: &str = "ORDER BY r.submitted_at DESC, r.id DESC";

pub async fn requests_of_org(state: &AppState, org_id: &str) -> Result<Vec<AccessRequest>> {
    let rows = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE r.org_id = $1 {NEWEST_FIRST}"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(request_of).collect()
}

/// The organisation's newest request (the dashboard's panel).
pub async fn latest_request(state: &AppState, org_id: &str) -> Result<Option<AccessRequest>> {
    let row = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE r.org_id = $1 {NEWEST_FIRST} LIMIT 1"
    ))
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref().map(request_of).transpose()
}

/// A queue entry: the request with its SLA.
pub struct QueueItem {
    pub request: AccessRequest,
    pub sla_hours: i64,
    pub waiting_secs: i64,
}

impl QueueItem {
    pub fn overdue(&self) -> bool {
        self.request.awaits_review() && self.waiting_secs > self.sla_hours * 3600
    }
}

/// The production queue: `status` one of the statuses or `open` (default: waiting
/// for the bank), oldest first.
pub async fn queue(state: &AppState, status: &str) -> Result<Vec<QueueItem>> {
    let filter = match status {
        "" | "open" => "r.status IN ('pending_review', 'pending_second_review')".to_string(),
        "all" => "1 = 1".to_string(),
        s if model::STATUSES.iter().any(|(v, _)| *v == s) => format!("r.status = '{s}'"),
        _ => return Err(Error::BadRequest("Unknown status filter.".into())),
    };
    let rows = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE {filter} ORDER BY r.waiting_since, r.id LIMIT 500"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    let tiers = catalogue::tiers(state).await?;
    let now = state.clock.now();
    rows.iter()
        .map(|row| {
            let request = request_of(row)?;
            let sla_hours = tiers
                .iter()
                .find(|t| t.level == request.tier)
                .map(|t| t.review_sla_hours)
                .unwrap_or(72);
            Ok(QueueItem {
                waiting_secs: now - request.waiting_since,
                sla_hours,
                request,
            })
        })
        .collect()
}

/// A decision on the record.
#[derive(Clone, Debug)]
pub struct Review {
    pub round: i64,
    pub stage: i64,
    pub reviewer_id: Option<String>,
    pub reviewer_email: Option<String>,
    pub decision: String,
    pub terms: Option<Terms>,
    pub reason: String,
    pub step_up_at: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ReviewRow {
    round: i64,
    stage: i64,
    reviewer_id: Option<String>,
    reviewer_email: Option<String>,
    decision: String,
    conditions: Option<String>,
    reason: String,
    step_up_at: Option<i64>,
    created_at: i64,
}

pub async fn reviews(state: &AppState, request_id: &str) -> Result<Vec<Review>> {
    let rows: Vec<ReviewRow> = sqlx::query_as(
        "SELECT round, stage, reviewer_id, reviewer_email, decision, conditions, reason, step_up_at, created_at \
         FROM access_reviews WHERE request_id = $1 ORDER BY created_at, round, stage",
    )
    .bind(request_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Review {
            round: r.round,
            stage: r.stage,
            reviewer_id: r.reviewer_id,
            reviewer_email: r.reviewer_email,
            decision: r.decision,
            terms: r.conditions.and_then(|t| serde_json::from_str(&t).ok()),
            reason: r.reason,
            step_up_at: r.step_up_at,
            created_at: r.created_at,
        })
        .collect())
}

/// The conversation: (from the bank, author, text, at).
pub async fn messages(
    state: &AppState,
    request_id: &str,
) -> Result<Vec<(bool, String, String, i64)>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT m.from_bank, COALESCE(u.display_name, m.author_id), m.body, m.created_at \
         FROM access_request_messages m LEFT JOIN users u ON u.id = m.author_id \
         WHERE m.request_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(request_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(bank, author, body, at)| (bank != 0, author, body, at))
        .collect())
}

// ---------------------------------------------------------------- reviews

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
}

/// Narrowed terms: fewer scopes, a shorter lifetime, a lower rate limit; never more.
fn narrowed(base: &Terms, form: &ReviewForm, invalid: &mut Invalid) -> Terms {
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
async fn refuse_conflict(
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
            if form.code.trim().is_empty() {
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
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let mut step_up_at = None;
    if form.decision == "approve" {
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

async fn add_message(
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
    let decision = evaluate(&policy, &gathered.facts)?;
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

// ---------------------------------------------------------------- issuance

/// Issues the production client for an approved request, under the production
/// issuer: the approved scopes, rate limit, allow-list and sender constraint; a
/// credential expiring after the approved lifetime, bound to the registered key or
/// certificate. A client secret is not made here: the partner collects it, once.
async fn issue(
    state: &AppState,
    tx: &mut Tx,
    request: &AccessRequest,
    terms: &Terms,
    by: &Actor,
    now: i64,
) -> Result<()> {
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
         auth_method, dpop_required, rate_limit_per_minute, ip_allowlist, access_request_id, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'production', $3, $4, $5, $6, $7, '', $8, $9, $10, $11, $12, 'active', $13, $14, $14)",
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
    state.oauth.cache.changed();
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

// ---------------------------------------------------------------- notifications

async fn notify_reviewers(
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
