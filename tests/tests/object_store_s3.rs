//! Issue 30: the installation's files on a real S3-compatible server. The moto server
//! (PyPI's `moto[server]`, installed by `.ci/run`) is started here; Gatehouse is
//! configured with `s3://bucket/prefix` as a bank would configure it. A partner's
//! evidence file goes there through the portal and comes back from it, the audit
//! checkpoints and the evidence packs are written there, and the retention purge
//! deletes the offboarded organisation's files from it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::common::{Backend, TestServer};
use crate::offboarding::{accept_without_running, org_of, BANK_ADMIN, FJORD};
use app::platform::context::{AuthUser, ClientInfo};

const BUCKET: &str = "gatehouse-files";
const PREFIX: &str = "bank-a";
const DAY: i64 = 86_400;

/// A moto server on a free port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts it, or `None` when `moto_server` is not installed and S3 is not
    /// required (`GATEHOUSE_REQUIRE_S3=1`, as `.ci/run` sets, makes that a failure).
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => {
                if std::env::var("GATEHOUSE_REQUIRE_S3").as_deref() == Ok("1") {
                    panic!("GATEHOUSE_REQUIRE_S3=1 but moto_server cannot start: {err}");
                }
                eprintln!("skipping: moto_server is not installed ({err})");
                return None;
            }
        };
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..300 {
            if moto.http.get(&moto.endpoint).send().await.is_ok() {
                let created = moto
                    .http
                    .put(format!("{}/{BUCKET}", moto.endpoint))
                    .send()
                    .await
                    .unwrap();
                assert!(created.status().is_success(), "{created:?}");
                return Some(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer on {}", moto.endpoint);
    }

    /// The keys under `prefix` in the bucket, as the S3 API lists them.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let listing = self
            .http
            .get(format!("{}/{BUCKET}", self.endpoint))
            .query(&[("list-type", "2"), ("prefix", prefix)])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    async fn object(&self, key: &str) -> (StatusCode, Vec<u8>) {
        // moto refuses anonymous reads of private objects, and does not check
        // signatures: any AWS4 authorization reads as the account.
        let response = self
            .http
            .get(format!("{}/{BUCKET}/{key}", self.endpoint))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=gatehouse-test/20261205/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap();
        (response.status(), response.bytes().await.unwrap().to_vec())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_checkpoints_and_packs_live_on_an_s3_compatible_store() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let endpoint = moto.endpoint.clone();
    let server = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.demo = true;
        settings.evidence_store_url = Some(format!("s3://{BUCKET}/{PREFIX}"));
        settings.evidence_store_options = [
            ("aws_endpoint", endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_access_key_id", "gatehouse-test"),
            ("aws_secret_access_key", "gatehouse-test-secret"),
            ("aws_region", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
    })
    .await
    .unwrap();
    // The demo's own evidence files were stored there when it was seeded.
    let seeded = moto.keys(&format!("{PREFIX}/")).await;
    let stored: i64 = server.count("SELECT COUNT(*) FROM evidence").await;
    assert!(stored > 0);
    assert!(
        seeded.len() >= usize::try_from(stored).unwrap(),
        "every seeded file is in the bucket: {seeded:?}"
    );

    // A partner uploads a document through the portal: it lands in the bucket, under
    // the configured prefix, with the exact bytes; the partner downloads it back.
    let fjord = server.demo_staff(FJORD, 0).await;
    let token = fjord.csrf("/governance/evidence").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .text("kind", "pen_test")
        .text("issued_on", "2026-11-30")
        .text("expires_on", "2027-11-30")
        .part(
            "file",
            reqwest::multipart::Part::bytes(crate::onboarding::PDF)
                .file_name("pen-test-s3.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let uploaded = fjord
        .http
        .post(format!("{}/governance/evidence", fjord.base))
        .header("origin", &fjord.base)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let (id, object_key): (String, String) =
        sqlx::query_as("SELECT id, object_key FROM evidence WHERE filename = 'pen-test-s3.pdf'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let in_bucket = format!("{PREFIX}/{object_key}");
    assert!(moto.keys(&in_bucket).await.contains(&in_bucket));
    let (status, bytes) = moto.object(&in_bucket).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, crate::onboarding::PDF);
    let download = fjord.get(&format!("/onboarding/evidence/{id}")).await;
    let status = download.status();
    let body = download.bytes().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, crate::onboarding::PDF);

    // The audit checkpoint is exported there by the scheduler's job.
    server.run_job("audit_checkpoint").await;
    let checkpoints = moto.keys(&format!("{PREFIX}/audit-checkpoints/")).await;
    assert!(!checkpoints.is_empty(), "no checkpoint in the bucket");
    let (_, line) = moto.object(checkpoints.last().unwrap()).await;
    let checkpoint: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert!(checkpoint["seq"].as_i64().unwrap() > 0, "{checkpoint}");

    // Fjord is offboarded: its evidence pack is copied to the bucket once written,
    // and the copy verifies as the pack itself does.
    let bank = server.demo_staff(BANK_ADMIN, -1).await;
    let retention = bank
        .submit(
            "/offboarding/bank",
            "/offboarding/bank/retention",
            &[("retention_days", "400")],
        )
        .await;
    assert_eq!(retention.status(), StatusCode::SEE_OTHER);
    let org = org_of(&server, FJORD).await;
    let offboarding = accept_without_running(&server, &org).await;
    assert!(app::offboarding::job::run(&server.state, &offboarding)
        .await
        .unwrap());
    let pack = app::evidence_packs::of_subject(&server.state.db, &offboarding)
        .await
        .unwrap()
        .expect("the offboarding wrote its pack");
    let archived = server.run_job("evidence_packs_archive").await;
    assert!(archived["archived"].as_u64().unwrap() >= 1, "{archived}");
    let (status, copy) = moto
        .object(&format!("{PREFIX}/evidence-packs/{pack}.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let copy = String::from_utf8(copy).unwrap();
    assert_eq!(
        copy,
        app::evidence_packs::file(&server.state.db, &pack)
            .await
            .unwrap()
    );
    let verified = app::evidence_packs::verify(&server.state.db, &server.state.keys, &copy)
        .await
        .unwrap();
    assert!(verified.problems.is_empty(), "{verified}");
    assert_eq!(verified.pack_id, pack);
    assert_eq!(
        server.run_job("evidence_packs_archive").await["archived"],
        0,
        "each pack is copied once"
    );

    // Another organisation's file, which the purge must leave alone.
    let acme = AuthUser::by_email(&server.state, "admin@acme-budgeting.example.com")
        .await
        .unwrap()
        .unwrap();
    let kept = app::onboarding::evidence::upload(
        &server.state,
        &acme,
        &ClientInfo::default(),
        app::onboarding::evidence::Upload {
            kind: "pen_test".into(),
            issued_on: "2026-11-30".into(),
            expires_on: "2027-11-30".into(),
            filename: "acme-pentest.pdf".into(),
            bytes: axum::body::Bytes::from_static(crate::onboarding::PDF),
            use_kept: false,
        },
    )
    .await
    .unwrap();
    let kept_key: String = sqlx::query_scalar("SELECT object_key FROM evidence WHERE id = $1")
        .bind(&kept)
        .fetch_one(server.pool())
        .await
        .unwrap();

    // After the retention, the purge deletes the offboarded organisation's files
    // from the bucket; the other organisations' stay.
    let fjords: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM evidence WHERE org_id = $1")
            .bind(&org)
            .fetch_all(server.pool())
            .await
            .unwrap();
    server.state.clock.advance(401 * DAY);
    let purged = server.run_job("evidence_retention").await["purged"]
        .as_u64()
        .unwrap();
    assert_eq!(purged, u64::try_from(fjords.len()).unwrap());
    for key in &fjords {
        let (status, _) = moto.object(&format!("{PREFIX}/{key}")).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{key} is still in the bucket"
        );
    }
    let (status, bytes) = moto.object(&format!("{PREFIX}/{kept_key}")).await;
    assert_eq!(status, StatusCode::OK, "another organisation's file stays");
    assert_eq!(bytes, crate::onboarding::PDF);
}
