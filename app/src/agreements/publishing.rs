//! Publishing a version (a bank admin): validated, numbered, hashed, audited.

use super::*;

/// A new version as the bank admin's form gives it.
#[derive(Clone, Debug, Default)]
pub struct NewVersion {
    pub kind: String,
    pub environment: String,
    pub tier: String,
    pub title: String,
    pub body: String,
    pub effective_on: String,
    pub material: bool,
    pub window_days: String,
    pub change_note: String,
}

/// Another admin published the same document or version at the same moment (the
/// unique constraints decide on PostgreSQL): 409, to try again.
fn published_meanwhile(err: sqlx::Error) -> Error {
    if crate::platform::db::is_unique_violation(&err) {
        Error::Conflict(
            "Another version of this document was published at the same moment: open the page again and publish once more.".into(),
        )
    } else {
        Error::Database(err)
    }
}

/// Publishes a version (a bank admin): the document's next version number, the
/// SHA-256 of the exact text, audited. The version id.
pub async fn publish(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    new: &NewVersion,
) -> Result<String> {
    let now = state.clock.now();
    let mut invalid = Invalid::new();
    if !KINDS.iter().any(|(k, _)| *k == new.kind) {
        invalid.add("kind", "Choose the kind of document.");
    }
    if !ENVIRONMENTS.iter().any(|(e, _)| *e == new.environment) {
        invalid.add("environment", "Choose the environment it governs.");
    }
    let tiers: Vec<i64> = sqlx::query_scalar("SELECT level FROM tiers ORDER BY level")
        .fetch_all(&state.db.pool)
        .await?;
    let tier = new
        .tier
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|t| tiers.contains(t));
    if tier.is_none() {
        invalid.add("tier", "Choose one of the tiers.");
    }
    invalid.text("title", &new.title, "Enter a title", 120);
    if new.title.contains(['\n', '\r']) {
        invalid.add("title", "The title is one line.");
    }
    let chars = new.body.chars().count();
    if new.body.trim().is_empty() || chars > MAX_TEXT_CHARS {
        invalid.add(
            "body",
            format!("Enter the agreement's text (at most {MAX_TEXT_CHARS} characters; this has {chars})."),
        );
    }
    let today = now - now.rem_euclid(86_400);
    let effective_at = match time::parse_day(new.effective_on.trim()) {
        Some(day) => {
            let at = day.midnight().assume_utc().unix_timestamp();
            if at < today || at > today + 365 * 86_400 {
                invalid.add(
                    "effective_on",
                    "The date it takes effect is today or later, at most a year ahead.",
                );
            }
            at
        }
        None => {
            invalid.add(
                "effective_on",
                "Enter the date it takes effect, for example 2027-01-31.",
            );
            0
        }
    };
    let window_days = if new.material {
        match new.window_days.trim().parse::<i64>() {
            Ok(days) if (1..=MAX_WINDOW_DAYS).contains(&days) => days,
            _ => {
                invalid.add(
                    "window_days",
                    format!(
                        "Enter the days partners have to accept it again: 1 to {MAX_WINDOW_DAYS}."
                    ),
                );
                0
            }
        }
    } else {
        0
    };
    if new.change_note.chars().count() > 1_000 {
        invalid.add(
            "change_note",
            "Describe the change in at most 1,000 characters.",
        );
    }
    invalid.into_result()?;
    let tier = tier.unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM agreement_documents WHERE kind = $1 AND environment = $2 AND tier = $3",
    )
    .bind(&new.kind)
    .bind(&new.environment)
    .bind(tier)
    .fetch_optional(&mut *tx)
    .await?;
    let document = match existing {
        Some(id) => {
            sqlx::query("UPDATE agreement_documents SET title = $1 WHERE id = $2")
                .bind(new.title.trim())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            let id = ids::new_id("agd");
            sqlx::query(
                "INSERT INTO agreement_documents (id, kind, environment, tier, title, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&new.kind)
            .bind(&new.environment)
            .bind(tier)
            .bind(new.title.trim())
            .bind(&admin.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(published_meanwhile)?;
            id
        }
    };
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM agreement_versions WHERE document_id = $1",
    )
    .bind(&document)
    .fetch_one(&mut *tx)
    .await?;
    // A later version may not take effect before an earlier one.
    let latest_effective: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(effective_at) FROM agreement_versions WHERE document_id = $1",
    )
    .bind(&document)
    .fetch_one(&mut *tx)
    .await?;
    if latest_effective.is_some_and(|latest| latest > effective_at) {
        return Err(Error::Invalid(Invalid::field(
            "effective_on",
            format!(
                "Version {} takes effect on {}: this one cannot take effect before it.",
                number - 1,
                crate::platform::time::day(latest_effective.unwrap_or_default())
            ),
        )));
    }
    let id = ids::new_id("agv");
    let sha = digest(&new.body);
    sqlx::query(
        "INSERT INTO agreement_versions (id, document_id, version, body, sha256, effective_at, material, window_days, change_note, published_by, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&document)
    .bind(number)
    .bind(&new.body)
    .bind(&sha)
    .bind(effective_at)
    .bind(i64::from(new.material))
    .bind(window_days)
    .bind(new.change_note.trim())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(published_meanwhile)?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "agreement.published")
            .client(client)
            .resource("agreement_version", &id)
            .details(json!({
                "document_id": document, "kind": new.kind, "environment": new.environment, "tier": tier,
                "title": new.title.trim(), "version": number, "sha256": sha, "effective_at": effective_at,
                "material": new.material, "window_days": window_days,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
