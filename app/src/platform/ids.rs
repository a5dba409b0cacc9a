//! Prefixed, sortable ids (`org_01j…`): a reader of a log knows what an id names,
//! and ids sort by creation time (ULID).

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub const ORG: &str = "org";
pub const USER: &str = "usr";
pub const EVENT: &str = "evt";
pub const MAIL: &str = "msg";
pub const ATTEMPT: &str = "att";
pub const APP: &str = "app";
pub const CLIENT: &str = "cli";
pub const CREDENTIAL: &str = "crd";
pub const CONSENT: &str = "cns";
pub const REQUEST: &str = "rlg";
pub const REFRESH_FAMILY: &str = "rtf";
pub const QUESTIONNAIRE: &str = "qnr";
pub const APPLICATION: &str = "onb";
pub const EVIDENCE: &str = "evd";
pub const DOSSIER: &str = "dos";
pub const MESSAGE: &str = "amg";
pub const ACCESS_REQUEST: &str = "req";
pub const ACCESS_REVIEW: &str = "rvw";
pub const POLICY: &str = "pol";
pub const WEBHOOK_ENDPOINT: &str = "ep";
pub const WEBHOOK_MESSAGE: &str = "whmsg";

#[cfg(test)]
mod tests {
    #[test]
    fn ids_carry_their_prefix_and_sort_by_time() {
        let a = super::new_id(super::ORG);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::new_id(super::ORG);
        assert!(a.starts_with("org_") && a.len() == 30, "{a}");
        assert!(a < b);
    }
}
