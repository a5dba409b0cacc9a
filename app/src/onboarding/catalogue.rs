//! The catalogue the bank decides before any request arrives: API scopes with their
//! data class and sensitivity, versioned questionnaires, and the tiers. Bank admins
//! edit it on `/admin/catalogue`; the bundled default is seeded when it is empty.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::json;

use super::model::{self, EvidenceRule, Question, Questionnaire, Step, Tier};
use crate::audit::{self, Actor, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

#[derive(Deserialize)]
struct Default {
    scopes: Vec<ScopeRow>,
    questionnaires: Vec<DefaultQuestionnaire>,
    tiers: Vec<DefaultTier>,
}

#[derive(Deserialize)]
struct DefaultQuestionnaire {
    name: String,
    content: Questionnaire,
}

#[derive(Deserialize)]
struct DefaultTier {
    level: i64,
    name: String,
    description: String,
    scopes: Vec<String>,
    questionnaire: String,
    evidence: Vec<EvidenceRule>,
    client_auth: Vec<String>,
    max_credential_days: i64,
    rate_limit_per_minute: i64,
    review_sla_hours: i64,
}

/// A scope of the catalogue.
#[derive(Clone, Debug, Deserialize, sqlx::FromRow)]
pub struct ScopeRow {
    pub scope: String,
    pub product: String,
    pub description: String,
    pub data_class: String,
    pub sensitivity: String,
}

/// A questionnaire version.
#[derive(Clone, Debug)]
pub struct QuestionnaireVersion {
    pub id: String,
    pub name: String,
    pub version: i64,
    pub status: String,
    pub content: Questionnaire,
    pub published_at: Option<i64>,
}

const DEFAULT: &str = include_str!("default_catalogue.json");

/// The questions of the wizard's fixed steps (profile, use case, contacts, declaration).
static STEP_QUESTIONS: LazyLock<BTreeMap<String, Vec<Question>>> =
    LazyLock::new(|| serde_json::from_str(include_str!("steps.json")).unwrap_or_default());

pub fn step_questions(step: Step) -> &'static [Question] {
    STEP_QUESTIONS
        .get(step.slug())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Seeds the bundled catalogue when there is none (first start, demo or not).
pub async fn ensure_default(state: &AppState) -> Result<()> {
    let tiers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tiers")
        .fetch_one(&state.db.pool)
        .await?;
    if tiers > 0 {
        return Ok(());
    }
    let default: Default = serde_json::from_str(DEFAULT).map_err(Error::internal)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    for scope in &default.scopes {
        sqlx::query(
            "INSERT INTO catalogue_scopes (scope, product, description, data_class, sensitivity, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope) DO NOTHING",
        )
        .bind(&scope.scope)
        .bind(&scope.product)
        .bind(&scope.description)
        .bind(&scope.data_class)
        .bind(&scope.sensitivity)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let mut by_name = BTreeMap::new();
    for q in &default.questionnaires {
        let id = ids::new_id(ids::QUESTIONNAIRE);
        let content = serde_json::to_string(&q.content).map_err(Error::internal)?;
        sqlx::query(
            "INSERT INTO questionnaires (id, name, version, status, content, created_at, published_at) \
             VALUES ($1, $2, 1, 'published', $3, $4, $4)",
        )
        .bind(&id)
        .bind(&q.name)
        .bind(content)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        by_name.insert(q.name.clone(), id);
    }
    for tier in &default.tiers {
        let questionnaire = by_name
            .get(&tier.questionnaire)
            .ok_or_else(|| Error::Internal(format!("no questionnaire {}", tier.questionnaire)))?;
        sqlx::query(
            "INSERT INTO tiers (level, name, description, scopes, questionnaire_id, evidence, client_auth, \
                                max_credential_days, rate_limit_per_minute, review_sla_hours, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(tier.level)
        .bind(&tier.name)
        .bind(&tier.description)
        .bind(tier.scopes.join(" "))
        .bind(questionnaire)
        .bind(serde_json::to_string(&tier.evidence).map_err(Error::internal)?)
        .bind(tier.client_auth.join(" "))
        .bind(tier.max_credential_days)
        .bind(tier.rate_limit_per_minute)
        .bind(tier.review_sla_hours)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        Event::new(Actor::system("bootstrap"), "catalogue.seeded")
            .details(json!({ "tiers": default.tiers.len(), "scopes": default.scopes.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

type TierRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
);

const TIER_COLUMNS: &str =
    "level, name, description, scopes, questionnaire_id, evidence, client_auth, \
                            max_credential_days, rate_limit_per_minute, review_sla_hours";

fn tier_of(row: TierRow) -> Result<Tier> {
    let (
        level,
        name,
        description,
        scopes,
        questionnaire_id,
        evidence,
        client_auth,
        days,
        rate,
        sla,
    ) = row;
    Ok(Tier {
        level,
        name,
        description,
        scopes: scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        questionnaire_id,
        evidence: serde_json::from_str(&evidence).map_err(Error::internal)?,
        client_auth: client_auth
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        max_credential_days: days,
        rate_limit_per_minute: rate,
        review_sla_hours: sla,
    })
}

pub async fn tiers(state: &AppState) -> Result<Vec<Tier>> {
    let rows: Vec<TierRow> =
        sqlx::query_as(&format!("SELECT {TIER_COLUMNS} FROM tiers ORDER BY level"))
            .fetch_all(&state.db.pool)
            .await?;
    rows.into_iter().map(tier_of).collect()
}

pub async fn tier(state: &AppState, level: i64) -> Result<Tier> {
    let row: Option<TierRow> = sqlx::query_as(&format!(
        "SELECT {TIER_COLUMNS} FROM tiers WHERE level = $1"
    ))
    .bind(level)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(tier_of).ok_or(Error::NotFound)?
}

pub async fn scopes(state: &AppState) -> Result<Vec<ScopeRow>> {
    Ok(sqlx::query_as(
        "SELECT scope, product, description, data_class, sensitivity FROM catalogue_scopes ORDER BY scope",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

type QuestionnaireRow = (String, String, i64, String, String, Option<i64>);

fn questionnaire_of(row: QuestionnaireRow) -> Result<QuestionnaireVersion> {
    let (id, name, version, status, content, published_at) = row;
    Ok(QuestionnaireVersion {
        id,
        name,
        version,
        status,
        content: serde_json::from_str(&content).map_err(Error::internal)?,
        published_at,
    })
}

pub async fn questionnaire(state: &AppState, id: &str) -> Result<QuestionnaireVersion> {
    let row: Option<QuestionnaireRow> = sqlx::query_as(
        "SELECT id, name, version, status, content, published_at FROM questionnaires WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(questionnaire_of).ok_or(Error::NotFound)?
}

pub async fn questionnaires(state: &AppState) -> Result<Vec<QuestionnaireVersion>> {
    let rows: Vec<QuestionnaireRow> = sqlx::query_as(
        "SELECT id, name, version, status, content, published_at FROM questionnaires ORDER BY name, version DESC",
    )
    .fetch_all(&state.db.pool)
    .await?;
    rows.into_iter().map(questionnaire_of).collect()
}

fn choice<'a>(value: &str, options: &[(&'a str, &'a str)]) -> Option<&'a str> {
    options.iter().find(|(v, _)| *v == value).map(|(v, _)| *v)
}

/// Adds or changes a scope.
pub async fn save_scope(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    input: ScopeRow,
) -> Result<()> {
    let mut invalid = Invalid::new();
    let name_ok = !input.scope.is_empty()
        && input.scope.len() <= 64
        && input
            .scope
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':');
    if !name_ok {
        invalid.add(
            "scope",
            "Enter a scope name of lower-case letters, digits, _ or :.",
        );
    }
    if input.product.trim().is_empty() {
        invalid.add("product", "Enter the API product this scope belongs to.");
    }
    if input.description.trim().is_empty() || input.description.len() > 1000 {
        invalid.add(
            "description",
            "Describe the scope in at most 1000 characters.",
        );
    }
    if choice(&input.data_class, &model::DATA_CLASSES).is_none() {
        invalid.add("data_class", "Choose a data class.");
    }
    if choice(&input.sensitivity, &model::SENSITIVITIES).is_none() {
        invalid.add("sensitivity", "Choose a sensitivity.");
    }
    invalid.into_result()?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO catalogue_scopes (scope, product, description, data_class, sensitivity, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (scope) DO UPDATE SET product = excluded.product, description = excluded.description, \
             data_class = excluded.data_class, sensitivity = excluded.sensitivity, updated_at = excluded.updated_at",
    )
    .bind(&input.scope)
    .bind(input.product.trim())
    .bind(input.description.trim())
    .bind(&input.data_class)
    .bind(&input.sensitivity)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "catalogue.scope_saved")
            .client(client)
            .resource("scope", &input.scope)
            .details(json!({ "data_class": input.data_class, "sensitivity": input.sensitivity })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A tier as the admin's form sends it.
#[derive(Clone, Debug, Default)]
pub struct TierInput {
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    pub questionnaire_id: String,
    /// One `kind:max_age_days` per line.
    pub evidence: String,
    pub client_auth: Vec<String>,
    pub max_credential_days: String,
    pub rate_limit_per_minute: String,
    pub review_sla_hours: String,
}

fn positive(invalid: &mut Invalid, field: &str, value: &str, max: i64, what: &str) -> i64 {
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => n,
        _ => {
            invalid.add(
                field,
                format!("Enter {what} as a whole number from 1 to {max}."),
            );
            0
        }
    }
}

pub fn parse_evidence_rules(text: &str) -> Result<Vec<EvidenceRule>, String> {
    let mut rules: Vec<EvidenceRule> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (kind, days) = line.split_once(':').unwrap_or((line, ""));
        let kind = model::EvidenceKind::parse(kind.trim())
            .ok_or_else(|| format!("\"{line}\": unknown kind of evidence."))?;
        let max_age_days = days
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| {
                format!("\"{line}\": give the maximum age in days (1 to 3650) after a colon.")
            })?;
        if rules.iter().any(|r| r.kind == kind) {
            return Err(format!("\"{line}\": that kind is listed twice."));
        }
        rules.push(EvidenceRule { kind, max_age_days });
    }
    Ok(rules)
}

pub fn evidence_rules_text(rules: &[EvidenceRule]) -> String {
    rules
        .iter()
        .map(|r| format!("{}:{}", r.kind.as_str(), r.max_age_days))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Changes a tier. Applications already started keep the questionnaire version they
/// started with; the change applies to new applications and to what submission checks.
pub async fn save_tier(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    level: i64,
    input: TierInput,
) -> Result<()> {
    tier(state, level).await?;
    let mut invalid = Invalid::new();
    if input.name.trim().is_empty() || input.name.len() > 100 {
        invalid.add("name", "Enter the tier's name (at most 100 characters).");
    }
    if input.description.len() > 1000 {
        invalid.add("description", "Use at most 1000 characters.");
    }
    let known = scopes(state).await?;
    if input.scopes.is_empty()
        || input
            .scopes
            .iter()
            .any(|s| !known.iter().any(|k| &k.scope == s))
    {
        invalid.add("scopes", "Choose the scopes this tier opens.");
    }
    if input.client_auth.is_empty()
        || input
            .client_auth
            .iter()
            .any(|m| !model::CLIENT_AUTH_METHODS.iter().any(|(v, _)| v == m))
    {
        invalid.add(
            "client_auth",
            "Choose the client authentication methods this tier allows.",
        );
    }
    match questionnaire(state, &input.questionnaire_id).await {
        Ok(q) if q.status == "published" => {}
        _ => invalid.add(
            "questionnaire_id",
            "Choose a published questionnaire version.",
        ),
    }
    let evidence = invalid.check("evidence", parse_evidence_rules(&input.evidence));
    let days = positive(
        &mut invalid,
        "max_credential_days",
        &input.max_credential_days,
        3650,
        "the maximum credential lifetime",
    );
    let rate = positive(
        &mut invalid,
        "rate_limit_per_minute",
        &input.rate_limit_per_minute,
        1_000_000,
        "the rate limit",
    );
    let sla = positive(
        &mut invalid,
        "review_sla_hours",
        &input.review_sla_hours,
        8760,
        "the review SLA",
    );
    invalid.into_result()?;
    let evidence = evidence.unwrap_or_default();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE tiers SET name = $1, description = $2, scopes = $3, questionnaire_id = $4, evidence = $5, \
             client_auth = $6, max_credential_days = $7, rate_limit_per_minute = $8, review_sla_hours = $9, \
             updated_at = $10 WHERE level = $11",
    )
    .bind(input.name.trim())
    .bind(input.description.trim())
    .bind(input.scopes.join(" "))
    .bind(&input.questionnaire_id)
    .bind(serde_json::to_string(&evidence).map_err(Error::internal)?)
    .bind(input.client_auth.join(" "))
    .bind(days)
    .bind(rate)
    .bind(sla)
    .bind(state.clock.now())
    .bind(level)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "catalogue.tier_saved")
            .client(client)
            .resource("tier", &level.to_string())
            .details(json!({
                "scopes": input.scopes, "questionnaire_id": input.questionnaire_id,
                "evidence": evidence, "client_auth": input.client_auth,
                "max_credential_days": days, "rate_limit_per_minute": rate, "review_sla_hours": sla,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Saves a questionnaire as a new draft version (the next number for its name), or
/// replaces the content of an existing draft. Published versions never change.
pub async fn save_questionnaire_draft(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    name: &str,
    content: &str,
) -> Result<String> {
    let mut invalid = Invalid::new();
    let name = name.trim();
    if name.is_empty()
        || name.len() > 40
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        invalid.add(
            "name",
            "Enter a questionnaire name of lower-case letters, digits and _.",
        );
    }
    let parsed = match serde_json::from_str::<Questionnaire>(content) {
        Ok(q) => invalid.check("content", model::validate_questionnaire(&q).map(|_| q)),
        Err(err) => {
            invalid.add(
                "content",
                format!("The questionnaire is not valid JSON of the expected shape: {err}."),
            );
            None
        }
    };
    invalid.into_result()?;
    let content = serde_json::to_string(&parsed).map_err(Error::internal)?;
    let mut tx = state.db.begin().await?;
    let draft: Option<String> =
        sqlx::query_scalar("SELECT id FROM questionnaires WHERE name = $1 AND status = 'draft'")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let id = match draft {
        Some(id) => {
            sqlx::query(
                "UPDATE questionnaires SET content = $1 WHERE id = $2 AND status = 'draft'",
            )
            .bind(&content)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            id
        }
        None => {
            let next: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM questionnaires WHERE name = $1",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            let id = ids::new_id(ids::QUESTIONNAIRE);
            sqlx::query(
                "INSERT INTO questionnaires (id, name, version, status, content, created_by, created_at) \
                 VALUES ($1, $2, $3, 'draft', $4, $5, $6)",
            )
            .bind(&id)
            .bind(name)
            .bind(next)
            .bind(&content)
            .bind(&admin.id)
            .bind(state.clock.now())
            .execute(&mut *tx)
            .await
            .map_err(|err| conflict_or(err, "Another draft of this questionnaire was saved at the same time."))?;
            id
        }
    };
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "catalogue.questionnaire_draft_saved")
            .client(client)
            .resource("questionnaire", &id)
            .details(json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn conflict_or(err: sqlx::Error, message: &str) -> Error {
    if crate::platform::db::is_unique_violation(&err) {
        Error::Conflict(message.into())
    } else {
        Error::Database(err)
    }
}

/// Publishes a draft: from now on it is frozen, and tiers may use it.
pub async fn publish_questionnaire(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE questionnaires SET status = 'published', published_at = $1 WHERE id = $2 AND status = 'draft'",
    )
    .bind(state.clock.now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(
            "This questionnaire version is already published (or does not exist): published versions never change."
                .into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "catalogue.questionnaire_published")
            .client(client)
            .resource("questionnaire", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_catalogue_and_steps_are_valid() {
        let default: std::result::Result<Default, _> = serde_json::from_str(DEFAULT);
        let Ok(default) = default else {
            panic!("default_catalogue.json does not parse");
        };
        for q in &default.questionnaires {
            assert_eq!(
                model::validate_questionnaire(&q.content),
                Ok(()),
                "{}",
                q.name
            );
        }
        assert_eq!(default.tiers.len(), 3);
        for step in [
            Step::Profile,
            Step::UseCase,
            Step::Contacts,
            Step::Declaration,
        ] {
            assert!(!step_questions(step).is_empty(), "{step:?}");
        }
    }

    #[test]
    fn evidence_rules_are_read_one_per_line() {
        assert_eq!(
            parse_evidence_rules("pen_test:365\n\niso27001_soc2: 1095"),
            Ok(vec![
                EvidenceRule {
                    kind: model::EvidenceKind::PenTest,
                    max_age_days: 365
                },
                EvidenceRule {
                    kind: model::EvidenceKind::Iso27001Soc2,
                    max_age_days: 1095
                },
            ])
        );
        assert!(parse_evidence_rules("pen_test").is_err());
        assert!(parse_evidence_rules("selfie:30").is_err());
        assert!(parse_evidence_rules("pen_test:1\npen_test:2").is_err());
    }
}
