//! One identity provider's configuration, as given on the command line
//! (`--staff-idp`, repeatable): `key=value` pairs separated by `;`, lists inside a
//! value separated by `,`. For example:
//!
//! ```text
//! id=corp;label=Bank SSO;issuer=https://login.bank.example/;client-id=gatehouse;
//! secret-file=/run/secrets/oidc;role.reviewer=gh-reviewers;role.approver=gh-approvers;
//! role.admin=gh-admins;mfa-amr=mfa,hwk
//! ```

use crate::platform::authz::Role;

/// What a configured provider is and how its claims are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpConfig {
    /// Names the provider in Gatehouse's URLs (`/sso/<id>/…`): lower-case letters,
    /// digits and `-`.
    pub id: String,
    /// What the sign-in button says: "Sign in with <label>".
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    /// Empty when the client authenticates with `private_key_jwt` instead.
    pub client_secret: String,
    /// `private_key_jwt` (RFC 7523): a PKCS#8 PEM private key (RSA: RS256, P-256:
    /// ES256) and the `kid` registered with its public key at the provider.
    pub private_key: Option<PrivateKey>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim that carries the person's groups (`groups`; Entra's app roles: `roles`).
    pub groups_claim: String,
    /// The groups that give each staff role.
    pub roles: Vec<(Role, Vec<String>)>,
    /// `acr` values that prove multi-factor authentication.
    pub mfa_acr: Vec<String>,
    /// `amr` values that prove multi-factor authentication (RFC 8176).
    pub mfa_amr: Vec<String>,
    /// For Entra's multi-tenant issuer (`…/{tenantid}/v2.0`): the tenants accepted.
    pub tenants: Vec<String>,
    /// Take the provider's e-mail addresses as verified without `email_verified`
    /// (Entra does not send it; only for a provider whose addresses the bank assigns).
    pub trust_email: bool,
}

/// The key Gatehouse signs its client assertions with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateKey {
    pub pem: String,
    pub kid: Option<String>,
}

/// The placeholder in Entra's multi-tenant issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

impl IdpConfig {
    /// Reads one `--staff-idp` value. Every error names what is wrong, for the
    /// start-up message.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut config = Self {
            id: String::new(),
            label: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            private_key: None,
            scopes: vec!["email".into(), "profile".into()],
            groups_claim: "groups".into(),
            roles: Vec::new(),
            mfa_acr: Vec::new(),
            mfa_amr: vec!["mfa".into()],
            tenants: Vec::new(),
            trust_email: false,
        };
        for pair in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "id" => config.id = value.to_string(),
                "label" => config.label = value.to_string(),
                "issuer" => config.issuer = value.to_string(),
                "client-id" => config.client_id = value.to_string(),
                "secret" => config.client_secret = value.to_string(),
                "secret-file" => {
                    config.client_secret = std::fs::read_to_string(value)
                        .map_err(|e| format!("secret-file {value}: {e}"))?
                        .trim()
                        .to_string();
                }
                "secret-env" => {
                    config.client_secret = std::env::var(value)
                        .map_err(|_| format!("secret-env: {value} is not set"))?;
                }
                "key-file" => {
                    let pem = std::fs::read_to_string(value)
                        .map_err(|e| format!("key-file {value}: {e}"))?;
                    let kid = config.private_key.take().and_then(|k| k.kid);
                    config.private_key = Some(PrivateKey { pem, kid });
                }
                "key-id" => {
                    let pem = config.private_key.take().map(|k| k.pem).unwrap_or_default();
                    config.private_key = Some(PrivateKey {
                        pem,
                        kid: Some(value.to_string()),
                    });
                }
                "scopes" => config.scopes = list(value),
                "groups-claim" => config.groups_claim = value.to_string(),
                "mfa-acr" => config.mfa_acr = list(value),
                "mfa-amr" => config.mfa_amr = list(value),
                "tenants" => config.tenants = list(value),
                "trust-email" => {
                    config.trust_email = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err("trust-email= is true or false".into()),
                    }
                }
                _ => match key.strip_prefix("role.").map(Role::parse) {
                    Some(Some(role)) if role.is_staff() => config.roles.push((role, list(value))),
                    _ => return Err(format!("unknown key `{key}`")),
                },
            }
        }
        if config.id.is_empty()
            || config.id.len() > 32
            || !config
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err("id= must be 1 to 32 lower-case letters, digits or -".into());
        }
        if config.label.is_empty() {
            config.label = config.id.clone();
        }
        let issuer =
            url::Url::parse(&config.issuer).map_err(|e| format!("issuer= is not a URL ({e})"))?;
        if issuer.scheme() != "https" && !is_loopback(&issuer) {
            return Err("issuer= must be https (http only on loopback, for tests)".into());
        }
        if config.client_id.is_empty() {
            return Err("client-id= is required".into());
        }
        match (&config.private_key, config.client_secret.is_empty()) {
            (None, true) => {
                return Err(
                    "one of secret=, secret-file=, secret-env= or key-file= is required".into(),
                )
            }
            (Some(_), false) => {
                return Err("give either a secret or key-file=, not both".into());
            }
            (Some(key), true) if key.pem.is_empty() => {
                return Err("key-id= needs key-file=".into());
            }
            (Some(key), true) if super::provider::assertion_key(&key.pem).is_none() => {
                return Err("key-file= must hold a PKCS#8 PEM RSA or P-256 private key".into());
            }
            _ => {}
        }
        if config.roles.iter().all(|(_, groups)| groups.is_empty()) {
            return Err("at least one role.<reviewer|approver|admin>=<groups> is required".into());
        }
        if config.groups_claim.is_empty() {
            return Err("groups-claim= must not be empty".into());
        }
        if config.issuer.contains(TENANT_PLACEHOLDER) && config.tenants.is_empty() {
            return Err(format!(
                "a multi-tenant issuer ({TENANT_PLACEHOLDER}) needs tenants=<tenant ids>"
            ));
        }
        Ok(config)
    }

    /// The staff role the groups give: the strongest one that any group maps to
    /// (bank admin, then approver, then reviewer), or none.
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        [Role::Admin, Role::Approver, Role::Reviewer]
            .into_iter()
            .find(|role| {
                self.roles
                    .iter()
                    .filter(|(r, _)| r == role)
                    .any(|(_, mapped)| mapped.iter().any(|g| groups.contains(g)))
            })
    }

    /// Whether the sign-in's `acr` or `amr` proves multi-factor authentication.
    pub fn proves_mfa(&self, acr: Option<&str>, amr: &[String]) -> bool {
        acr.is_some_and(|acr| self.mfa_acr.iter().any(|v| v == acr))
            || amr.iter().any(|a| self.mfa_amr.contains(a))
    }

    /// Whether `iss` is this provider's issuer: exactly, or for a multi-tenant
    /// issuer, the template with an accepted tenant (`tid`) put in.
    pub fn issuer_matches(&self, iss: &str, tid: Option<&str>) -> bool {
        if !self.issuer.contains(TENANT_PLACEHOLDER) {
            return iss == self.issuer;
        }
        tid.is_some_and(|tid| {
            self.tenants.iter().any(|t| t == tid)
                && iss == self.issuer.replace(TENANT_PLACEHOLDER, tid)
        })
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "id=corp;issuer=https://login.example/;client-id=gh;secret=s;role.reviewer=rev;role.approver=appr,leads;role.admin=admins";

    #[test]
    fn parses_and_maps_groups_to_the_strongest_role() {
        let c = IdpConfig::parse(BASE).unwrap();
        assert_eq!(c.label, "corp");
        assert_eq!(c.role_for(&["rev".into()]), Some(Role::Reviewer));
        assert_eq!(
            c.role_for(&["rev".into(), "leads".into()]),
            Some(Role::Approver)
        );
        assert_eq!(
            c.role_for(&["admins".into(), "rev".into()]),
            Some(Role::Admin)
        );
        assert_eq!(c.role_for(&["other".into()]), None);
        assert_eq!(c.role_for(&[]), None);
    }

    #[test]
    fn refuses_what_would_not_work() {
        for (spec, needle) in [
            ("issuer=https://x/;client-id=a;secret=s;role.reviewer=r", "id="),
            ("id=Corp;issuer=https://x/;client-id=a;secret=s;role.reviewer=r", "id="),
            ("id=c;issuer=http://idp.example/;client-id=a;secret=s;role.reviewer=r", "https"),
            ("id=c;issuer=https://x/;secret=s;role.reviewer=r", "client-id"),
            ("id=c;issuer=https://x/;client-id=a;role.reviewer=r", "secret"),
            ("id=c;issuer=https://x/;client-id=a;key-id=k;role.reviewer=r", "key-file"),
            ("id=c;issuer=https://x/;client-id=a;key-file=/nonexistent;role.reviewer=r", "key-file"),
            ("id=c;issuer=https://x/;client-id=a;secret=s", "role"),
            ("id=c;issuer=https://x/;client-id=a;secret=s;role.partner_admin=r", "unknown key"),
            ("id=c;issuer=https://x/;client-id=a;secret=s;role.reviewer=r;colour=blue", "unknown key"),
            ("id=c;issuer=https://login.microsoftonline.com/{tenantid}/v2.0;client-id=a;secret=s;role.reviewer=r", "tenants"),
            ("id=c;issuer;client-id=a", "key=value"),
        ] {
            let err = IdpConfig::parse(spec).unwrap_err();
            assert!(err.contains(needle), "{spec}: {err}");
        }
        assert!(IdpConfig::parse(
            "id=c;issuer=http://127.0.0.1:9/;client-id=a;secret=s;role.reviewer=r"
        )
        .is_ok());
    }

    #[test]
    fn mfa_from_acr_or_amr() {
        let c = IdpConfig::parse(&format!("{BASE};mfa-acr=urn:x:mfa;mfa-amr=mfa,hwk")).unwrap();
        assert!(c.proves_mfa(Some("urn:x:mfa"), &[]));
        assert!(c.proves_mfa(None, &["pwd".into(), "hwk".into()]));
        assert!(!c.proves_mfa(Some("urn:x:pwd"), &["pwd".into()]));
        assert!(!c.proves_mfa(None, &[]));
    }

    #[test]
    fn entra_multi_tenant_issuer() {
        let c = IdpConfig::parse(
            "id=entra;issuer=https://login.microsoftonline.com/{tenantid}/v2.0;tenants=t-1,t-2;client-id=a;secret=s;role.reviewer=r",
        )
        .unwrap();
        assert!(c.issuer_matches("https://login.microsoftonline.com/t-1/v2.0", Some("t-1")));
        assert!(!c.issuer_matches("https://login.microsoftonline.com/t-3/v2.0", Some("t-3")));
        assert!(!c.issuer_matches("https://login.microsoftonline.com/t-2/v2.0", Some("t-1")));
        assert!(!c.issuer_matches("https://login.microsoftonline.com/t-1/v2.0", None));
        let single = IdpConfig::parse(BASE).unwrap();
        assert!(single.issuer_matches("https://login.example/", None));
        assert!(!single.issuer_matches("https://login.example", None));
    }
}
