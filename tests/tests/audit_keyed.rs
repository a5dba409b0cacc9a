//! Issue 18 item 11: the audit trail against someone who can write to the database.
//! The chain is keyed (they cannot recompute it), the head only advances, TRUNCATE is
//! refused, and signed checkpoints kept outside the database catch the one thing the
//! chain cannot: the newest events cut off and the head set back.

use app::audit::chain::{self, Verdict};
use app::audit::checkpoint::{self, Finding};
use app::audit::AuditFilter;

use crate::audit::{broken_at, drop_guards, event_id, fresh};
use crate::both;
use crate::common::{Backend, TestServer};

/// The attacker rewrites event 3 and recomputes every hash after it the way the
/// unkeyed chain did (and with a guessed key), then resets the head: still caught.
async fn recompute(backend: Backend) {
    for guessed in [None, Some([0u8; 32])] {
        let Some(server) = fresh(backend).await else {
            return;
        };
        drop_guards(&server).await;
        let target = event_id(&server, 3).await;
        let mut rows = chain::list(server.pool(), &AuditFilter::default(), 100_000)
            .await
            .unwrap();
        rows.reverse();
        let mut prev = rows[1].hash.clone();
        for mut row in rows.into_iter().skip(2) {
            if row.seq == 3 {
                row.outcome = "failure".into();
            }
            row.prev_hash = prev.clone();
            row.hash = match &guessed {
                None => chain::compute_hash(&row),
                Some(key) => chain::keyed_hash(&row, key),
            };
            sqlx::query(
                "UPDATE audit_events SET outcome = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
            )
            .bind(&row.outcome)
            .bind(&row.prev_hash)
            .bind(&row.hash)
            .bind(row.seq)
            .execute(server.pool())
            .await
            .unwrap();
            prev = row.hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&prev)
            .execute(server.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(&server).await, (3, Some(target)), "{guessed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_11_a_recomputed_chain_is_detected_sqlite() {
    recompute(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_11_a_recomputed_chain_is_detected_postgres() {
    recompute(Backend::Postgres).await;
}

/// The head only advances by one, cannot be deleted, and TRUNCATE is refused.
async fn item_11_the_head_and_the_table_are_guarded(server: TestServer) {
    for sql in [
        "UPDATE audit_head SET seq = seq - 1 WHERE id = 1",
        "UPDATE audit_head SET seq = seq + 2 WHERE id = 1",
        "UPDATE audit_head SET hash = 'f00d' WHERE id = 1",
        "UPDATE audit_head SET keyed_from = keyed_from + 100 WHERE id = 1",
        "DELETE FROM audit_head",
    ] {
        let result = sqlx::query(sql).execute(server.pool()).await;
        assert!(result.is_err(), "{sql} must be refused");
    }
    if server.state.db.backend == app::platform::db::Backend::Postgres {
        for sql in ["TRUNCATE audit_events", "TRUNCATE audit_head"] {
            let result = sqlx::query(sql).execute(server.pool()).await;
            assert!(result.is_err(), "{sql} must be refused");
        }
    }
    assert!(matches!(
        chain::verify(server.pool()).await.unwrap(),
        Verdict::Intact { .. }
    ));
    // Appending still works through the guard.
    let mut tx = server.state.db.begin().await.unwrap();
    app::audit::record(
        &mut tx,
        app::audit::Event::new(app::audit::Actor::system("test"), "test.after_guard"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        chain::verify(server.pool()).await.unwrap(),
        Verdict::Intact { .. }
    ));
}
both!(item_11_the_head_and_the_table_are_guarded, demo);

/// Cutting off the newest events and setting the head back leaves a chain that
/// verifies on its own; the signed checkpoint exported earlier catches it, in the
/// file, the object store and through `gatehouse audit verify --checkpoints`.
async fn item_11_checkpoints_catch_a_cut_off_tail(server: TestServer) {
    let state = &server.state;
    // The first scheduler tick appends the sweep's events and checkpoints the head;
    // no job may append or checkpoint under the cut below.
    server.hold_scheduler().await;
    let mut tx = state.db.begin().await.unwrap();
    app::audit::record(
        &mut tx,
        app::audit::Event::new(app::audit::Actor::system("test"), "test.before_checkpoint"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let written = checkpoint::write_if_due(state, state.clock.now(), 0)
        .await
        .unwrap();
    let written = written.expect("the head moved since the last checkpoint");
    let now = state.clock.now();
    assert!(
        checkpoint::write_if_due(state, now, 0)
            .await
            .unwrap()
            .is_none(),
        "the head has not moved: no second checkpoint"
    );
    let path = state.settings.audit_checkpoint_path();
    // The start-up checkpoint may be there too.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = text.lines().count();
    assert!(lines >= 1, "{text}");
    let stored = state.settings.data_dir.join(format!(
        "evidence/audit-checkpoints/{}-{:012}.json",
        written.install_id, written.seq
    ));
    assert!(
        stored.is_file(),
        "the object store holds {}",
        stored.display()
    );
    assert_eq!(
        checkpoint::check(&state.db, &text).await.unwrap(),
        Finding::Hold { checkpoints: lines }
    );

    // The attacker cuts off the two newest events and sets the head back.
    drop_guards(&server).await;
    let last = written.seq;
    sqlx::query("DELETE FROM audit_events WHERE seq > $1")
        .bind(last - 2)
        .execute(server.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_events WHERE seq = $1) WHERE id = 1")
        .bind(last - 2)
        .execute(server.pool())
        .await
        .unwrap();
    assert!(
        matches!(
            chain::verify(server.pool()).await.unwrap(),
            Verdict::Intact { .. }
        ),
        "the chain alone cannot see a cut-off tail"
    );
    let finding = checkpoint::check(&state.db, &text).await.unwrap();
    assert!(
        matches!(&finding, Finding::Fails { reason, .. } if reason.contains("cut off")),
        "{finding}"
    );
    let (verdict, finding) =
        gatehouse_server::audit_verify(state.settings.clone(), Some(path.as_path()))
            .await
            .unwrap();
    assert!(matches!(verdict, Verdict::Intact { .. }));
    assert!(
        matches!(finding, Some(Finding::Fails { .. })),
        "{finding:?}"
    );
    // The scheduler's routine check reads the checkpoints too (review finding L3):
    // the audit page's last verdict says the chain does not hold.
    server.release_job("audit_chain_check").await;
    server.run_job("audit_chain_check").await;
    let (_, intact, text) = chain::last_check(server.pool()).await.unwrap().unwrap();
    assert!(!intact, "{text}");
    assert!(text.contains("cut off"), "{text}");

    // A forged or altered checkpoint does not verify.
    let mut forged = written.clone();
    forged.seq = last - 2;
    let forged = serde_json::to_string(&forged).unwrap();
    let finding = checkpoint::check(&state.db, &forged).await.unwrap();
    assert!(
        matches!(&finding, Finding::Fails { reason, .. } if reason.contains("signature")),
        "{finding}"
    );
}
both!(item_11_checkpoints_catch_a_cut_off_tail, demo);

/// Two instances on one PostgreSQL database: the same head is checkpointed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_11_two_instances_write_one_checkpoint() {
    let Some(server) = TestServer::start(Backend::Postgres, true).await else {
        return;
    };
    let second = server.second_instance(|_| {}).await;
    // Each instance's first scheduler tick appends the sweep's events and checkpoints
    // the head: the rounds start after both.
    server.wait_for_first_tick().await;
    second.wait_for_first_tick().await;
    for round in 0..3 {
        let mut tx = server.state.db.begin().await.unwrap();
        app::audit::record(
            &mut tx,
            app::audit::Event::new(app::audit::Actor::system("test"), "test.checkpointed")
                .details(serde_json::json!({ "round": round })),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let now = server.state.clock.now();
        let (a, b) = tokio::join!(
            checkpoint::write_if_due(&server.state, now, 0),
            checkpoint::write_if_due(&second.state, now, 0),
        );
        let written = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(written, 1, "round {round}: one checkpoint of the head");
    }
    // Both instances append to the same file here (they share the data directory);
    // the start-up checkpoint is in it too. No head was checkpointed twice.
    let text = std::fs::read_to_string(server.state.settings.audit_checkpoint_path()).unwrap();
    let mut seqs: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<checkpoint::Checkpoint>(l)
                .unwrap()
                .seq
        })
        .collect();
    let written = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), written, "a head checkpointed twice: {text}");
    assert!(written >= 3);
    assert_eq!(
        checkpoint::check(&server.state.db, &text).await.unwrap(),
        Finding::Hold {
            checkpoints: written
        }
    );
}
