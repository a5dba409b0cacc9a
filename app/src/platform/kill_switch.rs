//! What the token endpoint, introspection and the sandbox API ask of the kill
//! switch: is this client suspended now, and why. The suspensions themselves are
//! made and lifted in `governance::suspension`; this is the read side, here so that
//! `oauth` and `sandbox` need not depend on the governance feature.
//!
//! Open suspensions are few. They are read in one query and kept in the state
//! cache (`oauth::cache`), which every change empties, on every instance.

use crate::platform::db::Db;
use crate::platform::error::Result;

/// An open suspension.
#[derive(Clone, Debug)]
pub struct Suspension {
    pub id: String,
    /// `client` (an app id), `organisation`, `scope` or `issuer`.
    pub target_kind: String,
    pub target: String,
    pub origin: String,
    pub reason: String,
    /// A suspension of the software a registered client came from, listed for the
    /// client (see `open`); the sweep judges only the software's own.
    pub derived: bool,
}

impl Suspension {
    /// Whether this suspension covers a client of `org_id` on `issuer` holding `scopes`.
    pub fn covers<'s>(
        &self,
        app_id: &str,
        org_id: &str,
        issuer: &str,
        scopes: impl Iterator<Item = &'s str>,
    ) -> bool {
        covers(
            &self.target_kind,
            &self.target,
            app_id,
            org_id,
            issuer,
            scopes,
        )
    }
}

/// Whether a suspension of `target_kind` / `target` covers a client of `org_id` on
/// `issuer` holding `scopes` (open or lifted: the pages ask this of both).
pub fn covers<'s>(
    target_kind: &str,
    target: &str,
    app_id: &str,
    org_id: &str,
    issuer: &str,
    mut scopes: impl Iterator<Item = &'s str>,
) -> bool {
    match target_kind {
        "client" => target == app_id,
        "organisation" => target == org_id,
        "issuer" => target == issuer,
        "scope" => scopes.any(|s| s == target),
        _ => false,
    }
}

/// Every open suspension. A suspended client's suspension also covers the active
/// clients registered from it with a software statement (RFC 7591): each is listed
/// as a `derived` suspension of its own with the same id.
pub async fn open(db: &Db) -> Result<Vec<Suspension>> {
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, target_kind, target, origin, reason, derived FROM ( \
           SELECT s.id, s.target_kind, s.target, s.origin, s.reason, s.created_at, 0 AS derived \
             FROM suspensions s WHERE s.lifted_at IS NULL \
           UNION ALL \
           SELECT s.id, 'client', a.id, s.origin, s.reason, s.created_at, 1 AS derived FROM suspensions s \
             JOIN apps a ON a.registered_from = s.target AND a.status = 'active' \
             WHERE s.lifted_at IS NULL AND s.target_kind = 'client' \
         ) open_suspensions ORDER BY created_at, id, derived",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, target_kind, target, origin, reason, derived)| Suspension {
                id,
                target_kind,
                target,
                origin,
                reason,
                derived: derived != 0,
            },
        )
        .collect())
}

/// The first open suspension covering the client, if any.
pub fn find<'a, 's>(
    open: &'a [Suspension],
    app_id: &str,
    org_id: &str,
    issuer: &str,
    scopes: impl Iterator<Item = &'s str> + Clone,
) -> Option<&'a Suspension> {
    open.iter()
        .find(|s| s.covers(app_id, org_id, issuer, scopes.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suspension(kind: &str, target: &str) -> Suspension {
        Suspension {
            id: "sus_1".into(),
            target_kind: kind.into(),
            target: target.into(),
            origin: "manual".into(),
            reason: "test".into(),
            derived: false,
        }
    }

    #[test]
    fn each_kind_covers_what_it_names() {
        let scopes = || ["accounts", "payments"].into_iter();
        assert!(suspension("client", "app_1").covers("app_1", "org_1", "production", scopes()));
        assert!(!suspension("client", "app_2").covers("app_1", "org_1", "production", scopes()));
        assert!(suspension("organisation", "org_1").covers("app_1", "org_1", "sandbox", scopes()));
        assert!(suspension("scope", "payments").covers("app_1", "org_1", "sandbox", scopes()));
        assert!(!suspension("scope", "pay").covers("app_1", "org_1", "sandbox", scopes()));
        assert!(suspension("issuer", "production").covers(
            "app_1",
            "org_2",
            "production",
            std::iter::empty()
        ));
        assert!(!suspension("issuer", "production").covers(
            "app_1",
            "org_2",
            "sandbox",
            std::iter::empty()
        ));
    }
}
