//! How the sweep's actions read in the mails it sends.

use crate::platform::format::capitalise;

/// An action's description as a sentence for the person told, not an operator's
/// log line: "warn: credential … expires on …" reads "Credential … expires on …",
/// "suspend X: why" reads "X is suspended: why", "flag X: …" reads "X: …".
pub(super) fn for_people(description: &str) -> String {
    let text = description.trim();
    let text = if let Some(rest) = text.strip_prefix("warn: ") {
        rest.to_string()
    } else if let Some(rest) = text.strip_prefix("suspend ") {
        match rest.split_once(": ") {
            Some((what, why)) => format!("{what} is suspended: {why}"),
            None => rest.to_string(),
        }
    } else if let Some(rest) = text.strip_prefix("flag ") {
        rest.to_string()
    } else {
        text.to_string()
    };
    capitalise(&text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mails_read_as_sentences_for_people() {
        assert_eq!(
            super::for_people(
                "warn: credential crd_1 of Fjord insights expires on 2026-12-20 (7-day warning)"
            ),
            "Credential crd_1 of Fjord insights expires on 2026-12-20 (7-day warning)"
        );
        assert_eq!(
            super::for_people(
                "suspend Legacy export: no owner since 2026-12-01 (14-day grace passed)"
            ),
            "Legacy export is suspended: no owner since 2026-12-01 (14-day grace passed)"
        );
        assert_eq!(
            super::for_people("flag Legacy export: its owner has left"),
            "Legacy export: its owner has left"
        );
    }
}
