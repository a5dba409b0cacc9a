//! The risk policy store: the versions of the Rego policy, the active one, and
//! replacing it (validated, versioned, audited).

use super::*;

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

pub(super) const POLICY_SELECT: &str =
    "SELECT id, version, sha256, source, tests, note, active, created_by, created_at FROM risk_policies";

pub(super) fn policy_of(row: &AnyRow) -> Result<PolicyVersion> {
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
