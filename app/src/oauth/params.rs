//! Request parameters of the OAuth2 endpoints: `application/x-www-form-urlencoded`
//! only (RFC 6749 §3.2), and no parameter sent twice (RFC 6749 §3.1, §3.2).

use std::collections::HashMap;

use axum::http::{header, HeaderMap};

use super::error::{OAuthError, OAuthResult};

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from_form(headers: &HeaderMap, body: &[u8]) -> OAuthResult<Self> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(OAuthError::invalid_request(
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        Self::parse(body)
    }

    pub fn parse(query: &[u8]) -> OAuthResult<Self> {
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(query) {
            if map.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "The parameter {key} is repeated."
                )));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> OAuthResult<&str> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("The parameter {name} is missing.")))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}
