//! Issue 27, review finding N5: two runs of one offboarding at once on PostgreSQL
//! (the acceptance's own run and the scheduler's `offboarding_resume` on another
//! instance) finish it once, with every client of the organisation ended and listed
//! in the signed pack, never early.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Backend, TestServer};
use crate::offboarding::{
    accept_without_running, assert_all_ended, fixture, gateways, org_of, wait_until_done, FJORD,
};

fn small_batches(settings: &mut app::Settings) {
    settings.demo = true;
    settings.offboarding_batch = 1;
    settings.offboarding_pause_ms = 30;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_two_runs_at_once_end_everything_before_the_pack() {
    let Some(first) = TestServer::start_with(Backend::Postgres, small_batches).await else {
        return;
    };
    let second = first.second_instance(small_batches).await;
    let fx = fixture(&first).await;
    let gw = gateways(&first).await;
    let org = org_of(&first, FJORD).await;
    let clients: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE org_id = $1 AND status = 'active'")
            .bind(&org)
            .fetch_one(first.pool())
            .await
            .unwrap();
    assert!(clients > 2, "more than one batch of clients");
    // The servers' own schedulers stay out: the test runs the two overlapping runs.
    let id = accept_without_running(&first, &fx.org_id).await;
    let (a, b) = tokio::join!(
        app::offboarding::job::run(&first.state, &id),
        app::offboarding::job::run(&second.state, &id)
    );
    let finished = [a.unwrap(), b.unwrap()];
    assert_eq!(
        finished.iter().filter(|f| **f).count(),
        1,
        "one run finished it: {finished:?}"
    );
    wait_until_done(&first, &id).await;
    assert_all_ended(&first, &fx, &gw).await;
    let listed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM offboarding_actions WHERE offboarding_id = $1 AND kind = 'client'",
    )
    .bind(&id)
    .fetch_one(first.pool())
    .await
    .unwrap();
    assert_eq!(listed, clients, "the pack lists every client it ended");
    let finished_at: i64 = sqlx::query_scalar("SELECT finished_at FROM offboardings WHERE id = $1")
        .bind(&id)
        .fetch_one(first.pool())
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM offboarding_actions WHERE offboarding_id = $1 AND done_at > $2",
    )
    .bind(&id)
    .bind(finished_at)
    .fetch_one(first.pool())
    .await
    .unwrap();
    assert_eq!(after, 0, "nothing was ended after the pack was signed");
}
