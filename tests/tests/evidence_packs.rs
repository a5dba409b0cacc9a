//! Issue 15: the evidence pack of an offboarding verifies with `gatehouse evidence
//! verify`, and any edit to the pack or to the audit trail it lists is found and named.
//! (The pack is made by the offboarding test, `offboarding::offboarding_ends_everything`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use crate::common::TestServer;

/// The downloaded pack verifies; each edit to it or to the trail is found and named.
pub(crate) async fn detects_tampering(server: &TestServer, pack: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let settings = server.state.settings.clone();
    let verify = |name: &str, content: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let settings = settings.clone();
        async move {
            gatehouse_server::evidence_verify(settings, &path)
                .await
                .unwrap()
        }
    };
    let ok = verify("pack.json", text.to_string()).await;
    assert!(ok.problems.is_empty(), "{ok}");
    assert!(ok.entries > 10);
    // The CLI's list and export give the same pack.
    let listed = gatehouse_server::evidence_list(settings.clone())
        .await
        .unwrap();
    assert!(listed.contains(pack), "{listed}");
    let exported = dir.path().join("exported.json");
    gatehouse_server::evidence_export(settings.clone(), pack, &exported)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&exported).unwrap(), text);
    assert!(
        gatehouse_server::evidence_export(settings.clone(), "pack_nope", &exported)
            .await
            .is_err()
    );

    let file: Value = serde_json::from_str(text).unwrap();
    // One byte of the readable manifest.
    let mut edited = file.clone();
    let title = edited["manifest"]["title"]
        .as_str()
        .unwrap()
        .replacen('O', "0", 1);
    edited["manifest"]["title"] = Value::String(title);
    let found = verify("title.json", edited.to_string()).await;
    assert!(
        found.problems.iter().any(|p| p.contains("`title`")),
        "{found}"
    );
    // One byte of the signed manifest itself.
    let jws = file["jws"].as_str().unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut payload = base64_decode(parts[1]);
    let at = payload.iter().position(|b| *b == b'O').unwrap();
    payload[at] = b'0';
    let mut edited = file.clone();
    edited["jws"] = Value::String(format!(
        "{}.{}.{}",
        parts[0],
        base64_encode(&payload),
        parts[2]
    ));
    let found = verify("jws.json", edited.to_string()).await;
    assert!(
        found
            .problems
            .iter()
            .any(|p| p.contains("signature does not verify")),
        "{found}"
    );
    // The CSV.
    let mut edited = file.clone();
    edited["csv"] = Value::String(file["csv"].as_str().unwrap().replacen("revoked", "kept", 1));
    let found = verify("csv.json", edited.to_string()).await;
    assert!(found.problems.iter().any(|p| p.contains("CSV")), "{found}");

    // The trail: a listed event edited, then restored; then one deleted.
    crate::audit::drop_guards(server).await;
    let entry = &file["manifest"]["entries"][3];
    let event = entry["audit_event_id"].as_str().unwrap();
    let details: String = sqlx::query_scalar("SELECT details FROM audit_events WHERE id = $1")
        .bind(event)
        .fetch_one(server.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET details = '{}' WHERE id = $1")
        .bind(event)
        .execute(server.pool())
        .await
        .unwrap();
    let found = verify("pack.json", text.to_string()).await;
    assert!(
        found.problems.iter().any(|p| p.contains(event)),
        "the edited event is named: {found}"
    );
    sqlx::query("UPDATE audit_events SET details = $1 WHERE id = $2")
        .bind(&details)
        .bind(event)
        .execute(server.pool())
        .await
        .unwrap();
    assert!(verify("pack.json", text.to_string())
        .await
        .problems
        .is_empty());
    sqlx::query("DELETE FROM audit_events WHERE id = $1")
        .bind(event)
        .execute(server.pool())
        .await
        .unwrap();
    let found = verify("pack.json", text.to_string()).await;
    assert!(
        found
            .problems
            .iter()
            .any(|p| p.contains(event) && p.contains("missing from the trail")),
        "{found}"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
