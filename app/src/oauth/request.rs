//! Authorization requests (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3), validated the
//! same way whether they arrive at the authorization endpoint or are pushed first
//! (RFC 9126). Errors before the redirect URI is known to be the client's are shown
//! to the user and never redirected (RFC 6749 §4.1.2.1).

use serde::{Deserialize, Serialize};

use super::error::{Code, OAuthError};
use super::params::Params;
use crate::clients::catalogue;
use crate::clients::model::App;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthRequest {
    pub app_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    /// The keyed hash of the pushed request's URI, when it was pushed.
    pub pushed: Option<String>,
    /// The OBIE consent the customer is asked to authorise (`openbanking_intent_id`).
    #[serde(default)]
    pub intent_id: Option<String>,
}

pub enum Invalid {
    /// The redirect URI is missing or not registered: tell the user, do not redirect.
    NoRedirect(String),
    /// Send the error back to the client at its redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl Invalid {
    /// The same problem as a JSON error, for the PAR endpoint.
    pub fn into_oauth(self) -> OAuthError {
        match self {
            Self::NoRedirect(message) => OAuthError::invalid_request(message),
            Self::Redirect { error, .. } => error,
        }
    }
}

pub fn validate(
    app: &App,
    params: &Params,
    offered: &[catalogue::Scope],
) -> Result<AuthRequest, Invalid> {
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(Invalid::NoRedirect(
            "The request has no redirect_uri.".into(),
        ));
    };
    if !app
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri)
    {
        return Err(Invalid::NoRedirect(format!(
            "The redirect_uri {redirect_uri} is not registered for this app."
        )));
    }
    let state = params.get("state").map(str::to_string);
    let fail = |error: OAuthError| Invalid::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state.clone(),
        error,
    };
    if params.get("request").is_some() {
        return Err(fail(OAuthError::new(
            Code::InvalidRequest,
            "Request objects are not supported; push the parameters instead.",
        )));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(fail(OAuthError::new(
                Code::UnsupportedResponseType,
                format!("The response_type {other} is not supported; use code."),
            )))
        }
        None => {
            return Err(fail(OAuthError::invalid_request(
                "The request has no response_type.",
            )))
        }
    }
    if params.get("code_challenge_method") != Some("S256") {
        return Err(fail(OAuthError::invalid_request(
            "PKCE is required with code_challenge_method=S256.",
        )));
    }
    let challenge = params.get("code_challenge").unwrap_or_default();
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(fail(OAuthError::invalid_request(
            "The code_challenge must be the base64url SHA-256 of the code_verifier (43 characters).",
        )));
    }
    let scopes = catalogue::split(params.get("scope").unwrap_or_default());
    if scopes.is_empty() {
        return Err(fail(OAuthError::invalid_scope("The request has no scope.")));
    }
    for scope in &scopes {
        if !app.scopes.contains(scope) {
            return Err(fail(OAuthError::invalid_scope(format!(
                "The app may not ask for the scope {scope}."
            ))));
        }
        if !catalogue::find(offered, scope).is_some_and(|s| s.needs_customer()) {
            return Err(fail(OAuthError::invalid_scope(format!(
                "The scope {scope} needs no customer consent: use the client_credentials grant."
            ))));
        }
    }
    Ok(AuthRequest {
        app_id: app.id.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: scopes.join(" "),
        state,
        code_challenge: challenge.to_string(),
        pushed: None,
        intent_id: params.get("openbanking_intent_id").map(str::to_string),
    })
}

/// The client's redirect URI with the response parameters added, and `iss` (RFC 9207).
pub fn redirect_with(
    redirect_uri: &str,
    issuer: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}
