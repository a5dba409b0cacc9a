//! Request bodies checked against the specification's own request schemas
//! (`OBReadConsent1`, `OBWriteDomesticConsent4`, `OBWriteDomestic2`), from the OpenAPI
//! files in `specs/obie-v3.1.11/`, unmodified. The schemas forbid members they do not
//! define (`additionalProperties: false`), so an unknown member is refused with
//! `UK.OBIE.Field.Unexpected` and never stored or echoed back; a missing one is
//! `UK.OBIE.Field.Missing`, a date-time that is not one `UK.OBIE.Field.InvalidDate`,
//! anything else `UK.OBIE.Field.Invalid`, each with the JSON path of the member.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::{json, Value};

use super::error::{ObError, ObResult};

const ACCOUNT_INFO: &str = include_str!("../../../../specs/obie-v3.1.11/account-info-openapi.json");
const PAYMENT_INITIATION: &str =
    include_str!("../../../../specs/obie-v3.1.11/payment-initiation-openapi.json");

/// The request schemas the sandbox takes.
#[derive(Clone, Copy, Debug)]
pub enum Request {
    AccountAccessConsent,
    DomesticPaymentConsent,
    DomesticPayment,
}

struct Validators {
    account_access_consent: Validator,
    domestic_payment_consent: Validator,
    domestic_payment: Validator,
}

fn compile(spec: &Value, name: &str) -> Result<Validator, String> {
    let root =
        json!({ "$ref": format!("#/components/schemas/{name}"), "components": spec["components"] });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|err| format!("the specification's {name} schema does not compile: {err}"))
}

static VALIDATORS: LazyLock<Result<Validators, String>> = LazyLock::new(|| {
    let parse = |text: &str| -> Result<Value, String> {
        serde_json::from_str(text).map_err(|err| format!("the embedded OBIE specification: {err}"))
    };
    let ais = parse(ACCOUNT_INFO)?;
    let pis = parse(PAYMENT_INITIATION)?;
    Ok(Validators {
        account_access_consent: compile(&ais, "OBReadConsent1")?,
        domestic_payment_consent: compile(&pis, "OBWriteDomesticConsent4")?,
        domestic_payment: compile(&pis, "OBWriteDomestic2")?,
    })
});

/// Compiles the schemas at start-up rather than on the first request, and refuses to
/// start without them.
pub fn warm_up() -> Result<(), String> {
    VALIDATORS.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// `/Data/Initiation` → `Data.Initiation`.
fn json_path(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn join(base: &str, member: &str) -> String {
    if base.is_empty() {
        member.to_string()
    } else {
        format!("{base}.{member}")
    }
}

/// The body against the request's schema: `Ok` or the first violation as an OBIE 400.
pub fn check(request: Request, body: &Value) -> ObResult<()> {
    let validators = VALIDATORS.as_ref().map_err(|err| {
        tracing::error!(error = %err, "request schemas unavailable");
        ObError::internal()
    })?;
    let validator = match request {
        Request::AccountAccessConsent => &validators.account_access_consent,
        Request::DomesticPaymentConsent => &validators.domestic_payment_consent,
        Request::DomesticPayment => &validators.domestic_payment,
    };
    let Some(error) = validator.iter_errors(body).next() else {
        return Ok(());
    };
    let at = json_path(&error.instance_path().to_string());
    let err = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let member = unexpected.first().cloned().unwrap_or_default();
            let path = join(&at, &member);
            ObError::bad_request(
                "UK.OBIE.Field.Unexpected",
                format!("{path} is not a member the specification defines here."),
            )
            .at(path)
        }
        ValidationErrorKind::Required { property } => {
            let path = join(&at, property.as_str().unwrap_or_default());
            ObError::field_missing(&path)
        }
        ValidationErrorKind::Format { format } if format.contains("date") => ObError::bad_request(
            "UK.OBIE.Field.InvalidDate",
            format!("{at} must be an ISO 8601 date-time with a time zone."),
        )
        .at(at),
        _ => {
            let what = if at.is_empty() {
                "The body"
            } else {
                at.as_str()
            };
            ObError::field_invalid(&at, format!("{what}: {error}"))
        }
    };
    Err(if err.path.as_deref() == Some("") {
        ObError { path: None, ..err }
    } else {
        err
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_schemas_compile() {
        assert_eq!(warm_up(), Ok(()));
    }

    fn consent() -> Value {
        json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {} })
    }

    #[test]
    fn a_valid_consent_passes() {
        assert!(check(Request::AccountAccessConsent, &consent()).is_ok());
    }

    #[test]
    fn unknown_members_are_unexpected_with_their_path() {
        let mut body = consent();
        body["Risk"]["Injected"] = json!("x");
        let err = check(Request::AccountAccessConsent, &body).unwrap_err();
        assert_eq!(err.code, "UK.OBIE.Field.Unexpected");
        assert_eq!(err.path.as_deref(), Some("Risk.Injected"));
        let mut body = consent();
        body["Extra"] = json!(1);
        let err = check(Request::AccountAccessConsent, &body).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("Extra"));
    }

    #[test]
    fn missing_and_invalid_members() {
        let err = check(Request::AccountAccessConsent, &json!({ "Data": {} })).unwrap_err();
        assert_eq!(err.code, "UK.OBIE.Field.Missing");
        let mut body = consent();
        body["Data"]["ExpirationDateTime"] = json!("tomorrow");
        let err = check(Request::AccountAccessConsent, &body).unwrap_err();
        assert_eq!(err.code, "UK.OBIE.Field.InvalidDate");
        assert_eq!(err.path.as_deref(), Some("Data.ExpirationDateTime"));
    }
}
