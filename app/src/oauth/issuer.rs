//! Gatehouse runs two authorization servers on one code path: the sandbox's, at the
//! public URL, and the production issuer under `/production`, with its own metadata,
//! JWKS, signing keys, clients (`apps.environment`) and token audience. A token,
//! a client or a key of one is unknown to the other.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::platform::settings::Settings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    Sandbox,
    Production,
}

impl Issuer {
    pub const ALL: [Issuer; 2] = [Issuer::Sandbox, Issuer::Production];

    /// How long this issuer's access tokens live, in seconds (each issuer has its own
    /// setting; a credential's expiry only shortens it).
    pub fn access_token_seconds(self, settings: &crate::platform::settings::Settings) -> i64 {
        match self {
            Self::Sandbox => settings.access_token_seconds,
            Self::Production => settings.production_access_token_seconds,
        }
    }

    /// As stored: `apps.environment` and `signing_keys.issuer`.
    pub fn name(self) -> &'static str {
        match self {
            Issuer::Sandbox => "sandbox",
            Issuer::Production => "production",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The path prefix of the issuer's endpoints.
    pub fn prefix(self) -> &'static str {
        match self {
            Issuer::Sandbox => "",
            Issuer::Production => "/production",
        }
    }

    /// One of the issuer's endpoint paths (`path` is the sandbox's, e.g. `/oauth/token`).
    pub fn path(self, path: &str) -> String {
        format!("{}{path}", self.prefix())
    }

    /// The issuer identifier (RFC 8414 §2).
    pub fn identifier(self, settings: &Settings) -> String {
        match self {
            Issuer::Sandbox => settings.issuer(),
            Issuer::Production => settings.link(self.prefix()),
        }
    }

    /// The `aud` of the issuer's access tokens.
    pub fn audience(self, settings: &Settings) -> String {
        match self {
            Issuer::Sandbox => settings.sandbox_audience(),
            Issuer::Production => settings.production_audience(),
        }
    }

    /// Where the metadata is (RFC 8414 §3: the well-known segment goes before the
    /// issuer's path).
    pub fn metadata_path(self) -> String {
        format!("/.well-known/oauth-authorization-server{}", self.prefix())
    }

    /// The issuer an endpoint path belongs to: one handler serves both issuers.
    pub fn of_path(path: &str) -> Self {
        let production = Issuer::Production;
        let under = path
            .strip_prefix(production.prefix())
            .is_some_and(|rest| rest.starts_with('/'));
        if under || path == production.metadata_path() {
            production
        } else {
            Issuer::Sandbox
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Issuer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Issuer::of_path(parts.uri.path()))
    }
}

#[cfg(test)]
mod tests {
    use super::Issuer;

    #[test]
    fn the_path_names_the_issuer() {
        assert_eq!(Issuer::of_path("/oauth/token"), Issuer::Sandbox);
        assert_eq!(
            Issuer::of_path("/.well-known/oauth-authorization-server"),
            Issuer::Sandbox
        );
        assert_eq!(
            Issuer::of_path("/production/oauth/token"),
            Issuer::Production
        );
        assert_eq!(
            Issuer::of_path("/production/oauth/jwks"),
            Issuer::Production
        );
        assert_eq!(
            Issuer::of_path("/.well-known/oauth-authorization-server/production"),
            Issuer::Production
        );
        assert_eq!(Issuer::of_path("/productionx/oauth/token"), Issuer::Sandbox);
    }
}
