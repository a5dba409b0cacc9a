//! E-mail delivery through a real SMTP conversation: a small SMTP sink on loopback
//! stands in for the relay. Delivered mail is marked sent; a relay that refuses keeps
//! the message queued with the error, for a retry.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::common::{signup_fields, Backend, TestServer};

/// An SMTP server (RFC 5321) that keeps every message it accepts, or answers every
/// RCPT with `refuse` when given.
async fn smtp_sink(refuse: Option<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = messages.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write
                    .write_all(b"220 sink.example.com ESMTP\r\n")
                    .await
                    .unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &str = match verb.as_str() {
                        "EHLO" | "HELO" => "250 sink.example.com",
                        "RCPT" => refuse.unwrap_or("250 OK"),
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut message = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                message.push_str(&line);
                                message.push('\n');
                            }
                            kept.lock().unwrap().push(message);
                            "250 queued"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => "250 OK",
                    };
                    write
                        .write_all(format!("{reply}\r\n").as_bytes())
                        .await
                        .unwrap();
                }
            });
        }
    });
    (url, messages)
}

async fn outbox_status(server: &TestServer, to: &str) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE recipient = $1")
        .bind(to)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn delivers_through_smtp_and_keeps_refused_mail_queued(backend: Backend) {
    let (url, messages) = smtp_sink(None).await;
    let Some(server) = TestServer::start_with(backend, |s| s.smtp_url = Some(url)).await else {
        return;
    };
    let client = server.client();
    let response = client
        .submit(
            "/signup",
            "/signup",
            &signup_fields("ada@acme.example.com", "12345678"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut delivered = String::new();
    for _ in 0..100 {
        if let Some(message) = messages
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.contains("To: ada@acme.example.com"))
        {
            delivered = message.clone();
        }
        if !delivered.is_empty() && outbox_status(&server, "ada@acme.example.com").await.0 == "sent"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        delivered.contains("To: ada@acme.example.com"),
        "{delivered}"
    );
    // Quoted-printable: `=` is sent as `=3D`.
    assert!(
        delivered.contains("/verify-email?token=3D"),
        "the link is in the delivered mail: {delivered}"
    );
    assert_eq!(
        outbox_status(&server, "ada@acme.example.com").await.0,
        "sent"
    );
    // Issue 18 item 20: once delivered, the one-time link is not kept.
    let body: String =
        sqlx::query_scalar("SELECT body FROM outbox WHERE recipient = 'ada@acme.example.com'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert!(
        !body.contains("verify-email"),
        "the body was purged: {body}"
    );
    // With SMTP configured, there is no built-in mailbox.
    assert_eq!(
        client.get("/dev/mailbox").await.status(),
        StatusCode::NOT_FOUND
    );

    // A relay that refuses: the message stays queued with the error and is retried later.
    let (url, messages) = smtp_sink(Some("451 try again later")).await;
    let Some(server) = TestServer::start_with(backend, |s| s.smtp_url = Some(url)).await else {
        return;
    };
    let response = server
        .client()
        .submit(
            "/signup",
            "/signup",
            &signup_fields("grace@acme.example.com", "12345678"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut status = outbox_status(&server, "grace@acme.example.com").await;
    for _ in 0..100 {
        if status.2.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = outbox_status(&server, "grace@acme.example.com").await;
    }
    assert_eq!(status.1, 1, "one attempt so far");
    assert!(status.0 == "pending" || status.0 == "sending", "{status:?}");
    assert!(status.2.unwrap().contains("451"));
    assert!(!messages
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("grace@acme.example.com")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivery_sqlite() {
    delivers_through_smtp_and_keeps_refused_mail_queued(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivery_postgres() {
    delivers_through_smtp_and_keeps_refused_mail_queued(Backend::Postgres).await;
}

/// Issue 18 item 20: the built-in mailbox shows a message's body for an hour, then
/// the one-time links in it are gone from the database.
async fn mailbox_bodies_are_purged(server: TestServer) {
    let client = server.client();
    client
        .submit(
            "/signup",
            "/signup",
            &crate::common::signup_fields("ada@acme.example.com", "12345678"),
        )
        .await;
    let (_, body) = server.last_mail("ada@acme.example.com").await;
    assert!(body.contains("/verify-email?token="));
    // The hour starts when the worker puts the message in the mailbox.
    for _ in 0..200 {
        let shown: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient = 'ada@acme.example.com' AND status = 'mailbox'",
        )
        .fetch_one(server.pool())
        .await
        .unwrap();
        if shown == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let now = server.state.clock.now();
    assert_eq!(
        app::mail::purge_bodies(&server.state.db, now)
            .await
            .unwrap(),
        0,
        "kept for now"
    );
    let later = now + app::mail::MAILBOX_BODY_SECONDS + 1;
    assert!(
        app::mail::purge_bodies(&server.state.db, later)
            .await
            .unwrap()
            >= 1
    );
    let (_, body) = server.last_mail("ada@acme.example.com").await;
    assert!(!body.contains("token=") && body == app::mail::PURGED);
}
crate::both!(mailbox_bodies_are_purged);
