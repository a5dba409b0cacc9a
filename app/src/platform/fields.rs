//! Recorded facts (an alert's evidence, an audit event's details) as people read
//! them: labelled fields instead of escaped JSON. Keys become labels ("sample_requests"
//! → "Sample requests"), lists are joined, nested objects nest, and nothing empty is
//! left blank ("none").

use leptos::prelude::*;
use serde_json::Value;

/// `snake_case` as a label: "sample_requests" → "Sample requests".
pub fn label(key: &str) -> String {
    super::format::capitalise(&key.replace(['_', '-'], " "))
}

/// A value on one line: strings as they are, lists joined by ", ", objects as
/// "label: value; …", nothing as "none".
pub fn inline(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) if s.is_empty() => "none".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_i64()
            .map(super::format::thousands)
            .unwrap_or_else(|| n.to_string()),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items.iter().map(inline).collect::<Vec<_>>().join(", "),
        Value::Object(members) if members.is_empty() => "none".into(),
        Value::Object(members) => members
            .iter()
            .map(|(k, v)| format!("{}: {}", label(k), inline(v)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// An object as a description list (nested objects nest); anything else inline.
pub fn list(value: &Value) -> AnyView {
    match value {
        Value::Object(members) if !members.is_empty() => {
            let rows = members
                .iter()
                .map(|(k, v)| {
                    let shown = match v {
                        Value::Object(inner) if !inner.is_empty() => list(v),
                        other => view! { {inline(other)} }.into_any(),
                    };
                    view! { <dt>{label(k)}</dt><dd>{shown}</dd> }
                })
                .collect_view();
            view! { <dl class="summary fields">{rows}</dl> }.into_any()
        }
        other => view! { <p>{inline(other)}</p> }.into_any(),
    }
}

/// Audit details (JSON text) on one line; text that is not JSON as it is.
pub fn inline_text(details: &str) -> String {
    serde_json::from_str::<Value>(details)
        .map(|v| inline(&v))
        .unwrap_or_else(|_| details.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_read_as_labelled_fields() {
        assert_eq!(label("sample_requests"), "Sample requests");
        assert_eq!(
            inline(&json!({"count": 1200, "sources": ["a", "b"], "note": null, "ok": true})),
            "Count: 1,200; Note: none; Ok: yes; Sources: a, b"
        );
        assert_eq!(inline(&json!([])), "none");
        assert_eq!(inline_text("not json"), "not json");
        let html = list(&json!({"window": {"from": "x"}, "count": 3})).to_html();
        assert!(
            html.contains("<dt>Window</dt>") && html.contains("<dt>From</dt>"),
            "{html}"
        );
    }
}
