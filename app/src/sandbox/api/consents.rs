//! OBIE consents ("intents"): account-access consents (AISP) and domestic-payment
//! consents (PISP). An app creates one with a client-credentials token; a test
//! customer authorises it in the authorization-code flow (the authorization request
//! names it in `openbanking_intent_id`), picking the accounts; the token issued then
//! reaches exactly what the customer authorised.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};

use super::envelope::ObJson;
use super::error::{ObError, ObResult};
use super::obie::{self, format_time, parse_time};
use super::schema;
use super::{now, Bearer};
use crate::audit::{self, Actor, Event};
use crate::clients::intents::{from_row, Intent, ACCOUNT_ACCESS, COLUMNS};
use crate::platform::ids;
use crate::platform::state::AppState;

/// An intent of this app, of this kind. Another app's (or organisation's), or none,
/// is the same 400 `UK.OBIE.Resource.NotFound` (the specification lists no 404 for the
/// consent endpoints: an id that names nothing the caller may see is a bad request).
pub async fn of_app(state: &AppState, id: &str, app_id: &str, kind: &str) -> ObResult<Intent> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ob_consents o WHERE o.id = $1 AND o.app_id = $2 AND o.kind = $3"
    ))
    .bind(id)
    .bind(app_id)
    .bind(kind)
    .fetch_optional(&state.db.pool)
    .await?;
    match row {
        Some(row) => Ok(from_row(&row)?),
        None => Err(ObError::bad_request(
            "UK.OBIE.Resource.NotFound",
            "No consent of this app has this ConsentId.",
        )
        .at("ConsentId")),
    }
}

/// The intent the customer authorised for the token's grant, which must be of `kind`
/// and usable now.
pub async fn of_grant(state: &AppState, bearer: &Bearer, kind: &str) -> ObResult<Intent> {
    let grant = bearer.customer_grant()?;
    let cache = &state.oauth().cache;
    let key = (
        grant.to_string(),
        bearer.app_id.clone(),
        bearer.org_id.clone(),
    );
    let found = cache
        .cached(&cache.intents, key, || async {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM consents c JOIN ob_consents o ON o.id = c.intent_id \
                 WHERE c.id = $1 AND o.app_id = $2 AND o.org_id = $3"
            ))
            .bind(grant)
            .bind(&bearer.app_id)
            .bind(&bearer.org_id)
            .fetch_optional(&state.db.pool)
            .await?;
            row.as_ref().map(from_row).transpose()
        })
        .await?;
    let Some(intent) = found else {
        return Err(ObError::forbidden(
            "UK.OBIE.Resource.ConsentMismatch",
            format!("The customer did not authorise a {kind} consent for this token: name the consent in openbanking_intent_id when you send the customer to authorise it."),
        ));
    };
    if intent.kind != kind {
        return Err(ObError::forbidden(
            "UK.OBIE.Resource.ConsentMismatch",
            format!(
                "This token is for a {} consent, not a {kind} consent.",
                intent.kind
            ),
        ));
    }
    Ok(intent)
}

fn optional_time(data: &Value, field: &str) -> ObResult<Option<i64>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse_time(text)
            .map(|t| Some(t.unix_timestamp()))
            .ok_or_else(|| {
                ObError::bad_request(
                    "UK.OBIE.Field.InvalidDate",
                    format!("{field} must be an ISO 8601 date-time."),
                )
                .at(format!("Data.{field}"))
            }),
        Some(_) => Err(ObError::bad_request(
            "UK.OBIE.Field.InvalidDate",
            format!("{field} must be a string."),
        )
        .at(format!("Data.{field}"))),
    }
}

/// What an `OBReadConsent1` asks for.
struct ReadConsent {
    permissions: Vec<String>,
    expires: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
}

/// Reads an `OBReadConsent1` that has passed `schema::check` (`Data` and `Risk`
/// objects, `Permissions` a non-empty list of the specification's permissions), and
/// checks the rules the schema cannot say.
fn read_consent(body: &Value, now: i64) -> ObResult<ReadConsent> {
    let data = &body["Data"];
    let mut permissions: Vec<String> = Vec::new();
    for name in data["Permissions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !permissions.iter().any(|p| p == name) {
            permissions.push(name.to_string());
        }
    }
    let has = |p: &str| permissions.iter().any(|x| x == p);
    let transactions = has("ReadTransactionsBasic") || has("ReadTransactionsDetail");
    let direction = has("ReadTransactionsCredits") || has("ReadTransactionsDebits");
    if transactions != direction {
        return Err(ObError::field_invalid(
            "Data.Permissions",
            "ReadTransactionsBasic or ReadTransactionsDetail goes with ReadTransactionsCredits and/or ReadTransactionsDebits (each needs the other).",
        ));
    }
    let expires = optional_time(data, "ExpirationDateTime")?;
    if expires.is_some_and(|at| at <= now) {
        return Err(ObError::bad_request(
            "UK.OBIE.Field.InvalidDate",
            "ExpirationDateTime is in the past.",
        )
        .at("Data.ExpirationDateTime"));
    }
    let from = optional_time(data, "TransactionFromDateTime")?;
    let to = optional_time(data, "TransactionToDateTime")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ObError::bad_request(
                "UK.OBIE.Field.InvalidDate",
                "TransactionFromDateTime is after TransactionToDateTime.",
            )
            .at("Data.TransactionFromDateTime"));
        }
    }
    Ok(ReadConsent {
        permissions,
        expires,
        from,
        to,
    })
}

pub fn app_actor(bearer: &Bearer) -> Actor {
    Actor {
        kind: "client".into(),
        id: Some(bearer.claims.client_id.clone()),
        label: None,
    }
}

pub async fn create_account_access(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    body: ObJson,
) -> ObResult<Response> {
    bearer.require_scope("accounts")?;
    bearer.require_client_token()?;
    let at = state.clock.now();
    let body = body.value;
    schema::check(schema::Request::AccountAccessConsent, &body)?;
    let ReadConsent {
        permissions,
        expires,
        from,
        to,
    } = read_consent(&body, at)?;
    let id = ids::new_id("aac");
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO ob_consents (id, kind, app_id, org_id, status, permissions, expires_at, transactions_from, transactions_to, risk, created_at, status_updated_at) \
         VALUES ($1, 'account-access', $2, $3, 'AwaitingAuthorisation', $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&id)
    .bind(&bearer.app_id)
    .bind(&bearer.org_id)
    .bind(permissions.join(" "))
    .bind(expires)
    .bind(from)
    .bind(to)
    .bind(body.get("Risk").map(Value::to_string).unwrap_or_else(|| "{}".into()))
    .bind(at)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(app_actor(&bearer), "sandbox.account_access_consent_created")
            .resource("ob_consent", &id)
            .org(Some(&bearer.org_id))
            .details(json!({ "app_id": bearer.app_id, "permissions": permissions })),
    )
    .await?;
    tx.commit().await?;
    let intent = of_app(&state, &id, &bearer.app_id, ACCOUNT_ACCESS).await?;
    Ok(super::created(account_access_body(
        &intent,
        &bearer.link_to(&id),
    )))
}

fn account_access_body(intent: &Intent, self_url: &str) -> Value {
    let mut data = json!({
        "ConsentId": intent.id,
        "CreationDateTime": format_time(intent.created_at),
        "Status": intent.status,
        "StatusUpdateDateTime": format_time(intent.status_updated_at),
        "Permissions": intent.permissions,
    });
    if let Some(at) = intent.expires_at {
        data["ExpirationDateTime"] = json!(format_time(at));
    }
    if let Some(at) = intent.transactions_from {
        data["TransactionFromDateTime"] = json!(format_time(at));
    }
    if let Some(at) = intent.transactions_to {
        data["TransactionToDateTime"] = json!(format_time(at));
    }
    json!({ "Data": data, "Risk": intent.risk, "Links": { "Self": self_url }, "Meta": obie::meta(None) })
}

pub async fn get_account_access(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(consent_id): Path<String>,
) -> ObResult<Response> {
    bearer.require_scope("accounts")?;
    bearer.require_client_token()?;
    let intent = of_app(&state, &consent_id, &bearer.app_id, ACCOUNT_ACCESS).await?;
    let status = if intent.status == "Authorised" && intent.expired(state.clock.now()) {
        "Revoked"
    } else {
        intent.status.as_str()
    };
    let mut body = account_access_body(&intent, &bearer.url);
    body["Data"]["Status"] = json!(status);
    Ok(axum::Json(body).into_response())
}

/// The app withdraws a consent: it is Revoked, and tokens issued under it stop at once.
pub async fn delete_account_access(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(consent_id): Path<String>,
) -> ObResult<Response> {
    bearer.require_scope("accounts")?;
    bearer.require_client_token()?;
    let intent = of_app(&state, &consent_id, &bearer.app_id, ACCOUNT_ACCESS).await?;
    let at = now(&state).unix_timestamp();
    let mut tx = state.db.begin().await?;
    let changed = sqlx::query(
        "UPDATE ob_consents SET status = 'Revoked', status_updated_at = $2 WHERE id = $1 AND status IN ('AwaitingAuthorisation', 'Authorised')",
    )
    .bind(&intent.id)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ObError::bad_request(
            "UK.OBIE.Resource.InvalidConsentStatus",
            format!("The consent is already {}.", intent.status),
        ));
    }
    sqlx::query("UPDATE consents SET status = 'revoked', revoked_at = $2 WHERE intent_id = $1 AND status = 'granted'")
        .bind(&intent.id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(app_actor(&bearer), "sandbox.account_access_consent_deleted")
            .resource("ob_consent", &intent.id)
            .org(Some(&bearer.org_id)),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}
