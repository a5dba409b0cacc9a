//! Account rules: each function takes the state (or a transaction), does one
//! user-visible thing completely or not at all, and records it in the audit trail.

use serde_json::json;

use super::tokens::{self, Purpose};
use super::{throttle, totp, validate};
use crate::audit::{self, Actor, Event};
use crate::mail;
use crate::platform::authz::Role;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::crypto;
use crate::platform::db::{is_unique_violation, Tx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time::now};

/// What the sign-up form sends.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SignUp {
    #[serde(default)]
    pub legal_name: String,
    #[serde(default)]
    pub registration_number: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub lei: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// A signed-in identity: the user id and the session epoch to put in the session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: String,
    pub epoch: i64,
}

/// Creates the organisation and its first user (partner admin), and e-mails a
/// verification link; the new user signs in once the address is confirmed. An
/// address that already has an account gets the same answer (issue 19 item 6: no
/// user enumeration), nothing is created, and its owner is told by e-mail instead.
pub async fn sign_up(state: &AppState, input: SignUp, client: &ClientInfo) -> Result<()> {
    // Anonymous and expensive (an argon2id hash): limited per address, apart from sign-in.
    throttle::check_address(state, &client.ip, throttle::Attempt::SignUp).await?;
    let mut invalid = Invalid::new();
    let legal_name = invalid.check(
        "legal_name",
        validate::text(
            &input.legal_name,
            validate::MAX_NAME,
            "Enter the organisation's legal name",
        ),
    );
    let registration_number = invalid.check(
        "registration_number",
        validate::text(
            &input.registration_number,
            50,
            "Enter the company registration number",
        ),
    );
    let country = invalid.check("country", validate::country(&input.country));
    let website = invalid.check("website", validate::website(&input.website));
    let lei = invalid.check("lei", validate::lei(&input.lei));
    let full_name = invalid.check(
        "full_name",
        validate::text(&input.full_name, 100, "Enter your full name"),
    );
    let email = invalid.check("email", validate::email(&input.email));
    let context: Vec<&str> = [
        input.full_name.as_str(),
        input.email.as_str(),
        input.legal_name.as_str(),
    ]
    .into_iter()
    .flat_map(|s| s.split(|c: char| !c.is_alphanumeric()))
    .collect();
    invalid.check("password", validate::password(&input.password, &context));
    let (
        Some(legal_name),
        Some(registration_number),
        Some(country),
        Some(website),
        Some(lei),
        Some(full_name),
        Some(email),
    ) = (
        legal_name,
        registration_number,
        country,
        website,
        lei,
        full_name,
        email,
    )
    else {
        return Err(Error::Invalid(invalid));
    };
    invalid.into_result()?;

    let password_hash = crypto::hash_password(input.password).await?;
    let mut tx = state.db.begin().await?;
    let mut conflict = Invalid::new();
    conflict.status = axum::http::StatusCode::CONFLICT;
    let org_taken: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM organisations WHERE country = $1 AND registration_number = $2",
    )
    .bind(&country)
    .bind(&registration_number)
    .fetch_optional(&mut *tx)
    .await?;
    if org_taken.is_some() {
        conflict.add(
            "registration_number",
            "An organisation with this registration number is already registered: ask its partner admin to invite you",
        );
    }
    if let Some(lei) = &lei {
        if exists(&mut tx, "SELECT 1 FROM organisations WHERE lei = $1", lei).await? {
            conflict.add("lei", "An organisation with this LEI is already registered");
        }
    }
    if !conflict.is_empty() {
        return Err(Error::Invalid(conflict));
    }
    let existing: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, display_name, org_id FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((user_id, name, org_id)) = existing {
        let link = state.settings.link("/signin");
        let reset = state.settings.link("/password/forgot");
        let body = format!(
            "Hello {name},\n\nSomeone tried to create a Gatehouse account with this e-mail address, which already has one. Nothing was changed.\n\n             If it was you, sign in at {link}, or choose a new password at {reset}.\nIf it was not you, you can ignore this message.\n"
        );
        mail::enqueue(
            &mut tx,
            &email,
            "Your Gatehouse account already exists",
            &body,
        )
        .await?;
        audit::record(
            &mut tx,
            Event::new(Actor::anonymous(), "user.signup_existing_address")
                .resource("user", &user_id)
                .org(org_id.as_deref())
                .client(client)
                .outcome("failure"),
        )
        .await?;
        tx.commit().await?;
        state.mail_wakeup.notify_one();
        return Ok(());
    }

    let now = state.clock.now();
    let org_id = ids::new_id(ids::ORG);
    let user_id = ids::new_id(ids::USER);
    let inserted = sqlx::query(
        "INSERT INTO organisations (id, legal_name, registration_number, country, website, lei, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
    )
    .bind(&org_id)
    .bind(&legal_name)
    .bind(&registration_number)
    .bind(&country)
    .bind(&website)
    .bind(&lei)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        // Two sign-ups for one organisation at once: the constraint decides.
        return Err(if is_unique_violation(&err) {
            Error::Invalid(Invalid::conflict(
                "registration_number",
                "An organisation with this registration number is already registered",
            ))
        } else {
            err.into()
        });
    }
    insert_user(
        &mut tx,
        &user_id,
        Some(&org_id),
        &email,
        &full_name,
        Role::PartnerAdmin,
        "active",
        Some(&password_hash),
    )
    .await?;
    let actor = Actor::user(&user_id, &email);
    audit::record(
        &mut tx,
        Event::new(actor.clone(), "organisation.created")
            .resource("organisation", &org_id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({ "legal_name": legal_name, "country": country, "registration_number": registration_number, "lei": lei })),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor, "user.signed_up")
            .resource("user", &user_id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({ "role": Role::PartnerAdmin.as_str() })),
    )
    .await?;
    send_verification(state, &mut tx, &user_id, &email, &full_name).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

async fn exists(tx: &mut Tx, sql: &str, value: &str) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_user(
    tx: &mut Tx,
    id: &str,
    org_id: Option<&str>,
    email: &str,
    display_name: &str,
    role: Role,
    status: &str,
    password_hash: Option<&str>,
) -> Result<()> {
    let now = now();
    let result = sqlx::query(
        "INSERT INTO users (id, org_id, email, display_name, role, status, password_hash, session_epoch, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
    )
    .bind(id)
    .bind(org_id)
    .bind(email)
    .bind(display_name)
    .bind(role.as_str())
    .bind(status)
    .bind(password_hash)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Err(Error::Invalid(Invalid::conflict(
            "email",
            "An account with this e-mail address already exists",
        ))),
        Err(err) => Err(err.into()),
    }
}

async fn send_verification(
    state: &AppState,
    tx: &mut Tx,
    user_id: &str,
    email: &str,
    name: &str,
) -> Result<()> {
    let token = tokens::issue(
        tx,
        &state.keys,
        user_id,
        Purpose::VerifyEmail,
        state.clock.now(),
    )
    .await?;
    let link = state.settings.link(&format!("/verify-email?token={token}"));
    let body = format!(
        "Hello {name},\n\nConfirm your e-mail address for Gatehouse by opening this link within 24 hours:\n\n{link}\n\n\
         If you did not create a Gatehouse account, ignore this message.\n"
    );
    mail::enqueue(tx, email, "Confirm your e-mail address", &body).await
}

/// Sends a fresh verification link (the previous one stops working).
pub async fn resend_verification(state: &AppState, user: &AuthUser) -> Result<()> {
    if user.email_verified {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    send_verification(state, &mut tx, &user.id, &user.email, &user.display_name).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Confirms the address the token was sent to; returns that address.
pub async fn verify_email(state: &AppState, token: &str, client: &ClientInfo) -> Result<String> {
    let mut tx = state.db.begin().await?;
    let user_id = tokens::consume(
        &mut tx,
        &state.keys,
        token,
        Purpose::VerifyEmail,
        state.clock.now(),
    )
    .await?;
    let (email, org_id): (String, Option<String>) =
        sqlx::query_as("UPDATE users SET email_verified_at = $1, updated_at = $1 WHERE id = $2 RETURNING email, org_id")
            .bind(state.clock.now())
            .bind(&user_id)
            .fetch_one(&mut *tx)
            .await?;
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email), "user.email_verified")
            .resource("user", &user_id)
            .org(org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    Ok(email)
}

/// Where a correct password leads.
#[derive(Debug)]
pub enum PasswordStep {
    SignedIn(SignedIn),
    /// The user has a second factor: ask for it next.
    NeedsSecondFactor {
        user_id: String,
    },
}

/// id, status, password hash, organisation, TOTP enabled at, session epoch.
type CredentialRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

const BAD_CREDENTIALS: &str = "Enter a correct e-mail address and password";

/// Checks an e-mail and password. Unknown, invited and disabled accounts take the
/// same time and get the same answer as a wrong password.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<PasswordStep> {
    throttle::check_address(state, &client.ip, throttle::Attempt::SignIn).await?;
    let email_key = email.trim().to_lowercase();
    if email_key.is_empty() || password.is_empty() {
        let mut invalid = Invalid::new();
        if email_key.is_empty() {
            invalid.add("email", "Enter your e-mail address");
        }
        if password.is_empty() {
            invalid.add("password", "Enter your password");
        }
        return Err(Error::Invalid(invalid));
    }
    let email_key: String = email_key.chars().take(validate::MAX_EMAIL).collect();
    throttle::claim_slot(&state.db, &email_key, state.clock.now()).await?;

    let row: Option<CredentialRow> = sqlx::query_as(
        "SELECT id, status, CASE WHEN (org_id IS NULL AND id IN (SELECT user_id FROM sso_identities)) \
              OR org_id IN (SELECT org_id FROM org_idps WHERE status = 'approved' AND require_sso = 1) \
              THEN NULL ELSE password_hash END, \
         org_id, totp_enabled_at, session_epoch FROM users WHERE email = $1",
    )
    .bind(&email_key)
    .fetch_optional(&state.db.pool)
    .await?;
    let stored_hash = row
        .as_ref()
        .and_then(|r| r.2.clone())
        .unwrap_or_else(|| state.dummy_password_hash.clone());
    let password_ok = crypto::verify_password(password.to_string(), stored_hash).await?;
    // With `--local-staff-passwords=false`, bank staff (no organisation) sign in only
    // through their identity provider.
    let usable = row.as_ref().is_some_and(|r| {
        r.1 == "active" && r.2.is_some() && (r.3.is_some() || state.settings.local_staff_passwords)
    });
    let ok = password_ok && usable;
    throttle::record_attempt(&state.db, &email_key, &client.ip, ok, state.clock.now()).await?;

    let Some((user_id, _, _, org_id, totp_enabled, epoch)) = row.filter(|_| ok) else {
        let mut tx = state.db.begin().await?;
        // Only a well-formed address is recorded: people sometimes type a password
        // into the e-mail field, and no secret may enter the audit trail.
        let label = validate::email(&email_key).ok();
        let actor = Actor {
            kind: "anonymous".into(),
            id: None,
            label,
        };
        audit::record(
            &mut tx,
            Event::new(actor, "signin.failure")
                .client(client)
                .outcome("failure")
                .details(json!({ "step": "password" })),
        )
        .await?;
        tx.commit().await?;
        let mut invalid = Invalid::field("email", BAD_CREDENTIALS);
        invalid.add("password", BAD_CREDENTIALS);
        return Err(Error::Invalid(invalid));
    };
    if totp_enabled.is_some() {
        return Ok(PasswordStep::NeedsSecondFactor { user_id });
    }
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email_key), "signin.success")
            .resource("user", &user_id)
            .org(org_id.as_deref())
            .client(client)
            .details(json!({ "factors": ["password"] })),
    )
    .await?;
    tx.commit().await?;
    Ok(PasswordStep::SignedIn(SignedIn { user_id, epoch }))
}

/// The second step of sign-in: a TOTP code, or one of the recovery codes.
pub async fn check_second_factor(
    state: &AppState,
    user_id: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<SignedIn> {
    throttle::check_address(state, &client.ip, throttle::Attempt::SignIn).await?;
    if code.trim().is_empty() {
        return Err(Error::Invalid(Invalid::field(
            "code",
            "Enter the 6-digit code from your authenticator app",
        )));
    }
    let (email, org_id, epoch): (String, Option<String>, i64) = sqlx::query_as(
        "SELECT email, org_id, session_epoch FROM users WHERE id = $1 AND status = 'active'",
    )
    .bind(user_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| Error::SignInRequired {
        next: "/dashboard".into(),
    })?;
    throttle::claim_slot(&state.db, &email, state.clock.now()).await?;
    let mut tx = state.db.begin().await?;
    let by_totp = totp::verify_limited(state, &mut tx, user_id, code).await?;
    let by_recovery = !by_totp
        && totp::use_recovery_code(&mut tx, &state.keys, user_id, code, state.clock.now()).await?;
    let actor = Actor::user(user_id, &email);
    if !by_totp && !by_recovery {
        tx.rollback().await?;
        throttle::record_attempt(&state.db, &email, &client.ip, false, state.clock.now()).await?;
        totp::record_failed_code(state, user_id, &client.ip).await?;
        let mut tx = state.db.begin().await?;
        audit::record(
            &mut tx,
            Event::new(actor, "signin.failure")
                .resource("user", user_id)
                .org(org_id.as_deref())
                .client(client)
                .outcome("failure")
                .details(json!({ "step": "second_factor" })),
        )
        .await?;
        tx.commit().await?;
        return Err(Error::Invalid(Invalid::field(
            "code",
            "The code is not right, or was already used: enter the current code from your app, or a recovery code",
        )));
    }
    let factor = if by_totp { "totp" } else { "recovery_code" };
    audit::record(
        &mut tx,
        Event::new(actor, "signin.success")
            .resource("user", user_id)
            .org(org_id.as_deref())
            .client(client)
            .details(json!({ "factors": ["password", factor] })),
    )
    .await?;
    tx.commit().await?;
    throttle::record_attempt(&state.db, &email, &client.ip, true, state.clock.now()).await?;
    Ok(SignedIn {
        user_id: user_id.to_string(),
        epoch,
    })
}

/// Confirms TOTP enrolment with a first code from the app, stores the secret
/// (encrypted) and returns fresh recovery codes to show once.
pub async fn enrol_totp(
    state: &AppState,
    user: &AuthUser,
    secret: &[u8],
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    let Some(step) = totp::matching_step(secret, code, state.clock.now())? else {
        return Err(Error::Invalid(Invalid::field(
            "code",
            "The code is not right: enter the 6-digit code your app shows now",
        )));
    };
    let sealed = state.keys.encrypt(secret)?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_enabled_at = $2, totp_last_step = $3, updated_at = $2 WHERE id = $4",
    )
    .bind(sealed)
    .bind(state.clock.now())
    .bind(step)
    .bind(&user.id)
    .execute(&mut *tx)
    .await?;
    let codes = totp::new_recovery_codes(&mut tx, &state.keys, &user.id).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "mfa.enrolled")
            .resource("user", &user.id)
            .org(user.org_id.as_deref())
            .client(client)
            .details(json!({ "method": "totp" })),
    )
    .await?;
    mail::enqueue(
        &mut tx,
        &user.email,
        "Two-step verification is on",
        &format!("Hello {},\n\nTwo-step verification was turned on for your Gatehouse account. If this was not you, contact your administrator at once.\n", user.display_name),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(codes)
}

/// Turns the second factor off, for users whose role does not require it.
pub async fn disable_totp(
    state: &AppState,
    user: &AuthUser,
    code: &str,
    client: &ClientInfo,
) -> Result<()> {
    if user.role.is_staff() || user.role == Role::PartnerAdmin {
        return Err(Error::Forbidden(
            "Your role requires two-step verification, so it cannot be turned off.".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    if !totp::verify_limited(state, &mut tx, &user.id, code).await? {
        drop(tx);
        totp::record_failed_code(state, &user.id, &client.ip).await?;
        return Err(Error::Invalid(Invalid::field(
            "code",
            "The code is not right: enter the current code from your app",
        )));
    }
    sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = $1 WHERE id = $2")
        .bind(state.clock.now())
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "mfa.disabled")
            .resource("user", &user.id)
            .org(user.org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the recovery codes (the old ones stop working); needs a current code.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    user: &AuthUser,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>> {
    let mut tx = state.db.begin().await?;
    if !totp::verify_limited(state, &mut tx, &user.id, code).await? {
        drop(tx);
        totp::record_failed_code(state, &user.id, &client.ip).await?;
        return Err(Error::Invalid(Invalid::field(
            "code",
            "The code is not right: enter the current code from your app",
        )));
    }
    let codes = totp::new_recovery_codes(&mut tx, &state.keys, &user.id).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "mfa.recovery_codes_regenerated")
            .resource("user", &user.id)
            .org(user.org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Changes the password of the signed-in user. Other sessions end; the caller's
/// session continues under the returned epoch.
pub async fn change_password(
    state: &AppState,
    user: &AuthUser,
    current: &str,
    new: &str,
    client: &ClientInfo,
) -> Result<i64> {
    let mut invalid = Invalid::new();
    if current.is_empty() {
        invalid.add("current_password", "Enter your current password");
    }
    invalid.check(
        "new_password",
        validate::password(new, &[user.email.as_str(), user.display_name.as_str()]),
    );
    invalid.into_result()?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(&user.id)
            .fetch_one(&state.db.pool)
            .await?;
    let ok = match stored {
        Some(hash) => crypto::verify_password(current.to_string(), hash).await?,
        None => false,
    };
    if !ok {
        return Err(Error::Invalid(Invalid::field(
            "current_password",
            "Your current password is not right",
        )));
    }
    let hash = crypto::hash_password(new.to_string()).await?;
    let mut tx = state.db.begin().await?;
    let epoch: i64 = sqlx::query_scalar(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3 RETURNING session_epoch",
    )
    .bind(&hash)
    .bind(state.clock.now())
    .bind(&user.id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "password.changed")
            .resource("user", &user.id)
            .org(user.org_id.as_deref())
            .client(client),
    )
    .await?;
    mail::enqueue(&mut tx, &user.email, "Your Gatehouse password was changed", "Your password was changed and your other sessions were signed out. If this was not you, reset your password at once.\n").await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(epoch)
}

/// Records a sign-out.
pub async fn signed_out(state: &AppState, user: &AuthUser, client: &ClientInfo) -> Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "signout")
            .resource("user", &user.id)
            .org(user.org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
