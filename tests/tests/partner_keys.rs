//! Partners paste their public key as PEM (issue 34): the server converts it to a
//! JWK named by its RFC 7638 thumbprint, shows both on the app's page, and the
//! client signs in with assertions naming that kid. Weak keys, private keys and
//! garbage are refused with the reason, and nothing is written.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::common::TestServer;
use crate::sandbox_helpers::*;

async fn apps(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM apps")
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn a_pem_public_key_becomes_a_named_jwk_that_signs_in(server: TestServer) {
    use p256::pkcs8::EncodePublicKey;
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;

    // The public half of a P-256 pair, as `openssl ec -pubout` prints it.
    let mut key = PartnerKey::new("unused");
    let coordinate = |name: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key.jwk[name].as_str().unwrap())
            .unwrap()
    };
    let point = [vec![4], coordinate("x"), coordinate("y")].concat();
    let public = p256::PublicKey::from_sec1_bytes(&point).unwrap();
    let spki = public.to_public_key_der().unwrap();
    let (app_id, client_id, _) = register_app(
        &developer,
        &app_fields(
            "From PEM",
            &owner,
            "private_key_jwt",
            &pem("PUBLIC KEY", spki.as_bytes()),
        ),
    )
    .await;
    let thumbprint = key.thumbprint();
    let (_, page) = developer.text(&format!("/sandbox/apps/{app_id}")).await;
    assert!(
        page.contains(&format!("EC P-256, kid {thumbprint} (its thumbprint)")),
        "{page}"
    );
    // An assertion naming the thumbprint as its kid is accepted.
    key.jwk["kid"] = json!(thumbprint);
    let form = assertion_form(
        &key.assertion(&server, &client_id, json!({})),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
    );
    let (status, _, body) = oauth_post(&server, "/oauth/token", None, &as_refs(&form), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Refused with the reason, the input kept, nothing written.
    let before = apps(&server).await;
    let weak = rsa::RsaPrivateKey::new(&mut p256::elliptic_curve::rand_core::OsRng, 1024).unwrap();
    let weak_der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&weak.to_public_key()).unwrap();
    let private = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let private_der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&private).unwrap();
    for (material, reason) in [
        (
            pem("PUBLIC KEY", weak_der.as_bytes()),
            "RSA keys must have at least 2048 bits (this one has 1024)",
        ),
        (
            pem("PRIVATE KEY", private_der.as_bytes()),
            "That is a private key",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n".to_string(),
            "could not be read",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nMFkw".to_string(),
            "from its -----BEGIN line to its -----END line",
        ),
    ] {
        let response = developer
            .submit(
                "/sandbox/apps/new",
                "/sandbox/apps",
                &app_fields("Refused", &owner, "private_key_jwt", &material),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(reason), "{reason}: {html}");
    }
    assert_eq!(apps(&server).await, before, "nothing written");
}
both!(a_pem_public_key_becomes_a_named_jwk_that_signs_in, demo);
