//! Every periodic job the README lists runs in a started server (review finding N1:
//! access reviews and the evidence retention were written, tested as functions, and
//! never scheduled). The server's own scheduler runs them: at its first tick, and
//! again once its clock has moved past every job's interval.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::both;
use crate::common::TestServer;

/// The job names in the README's table of periodic jobs (between `<!-- jobs -->` and
/// `<!-- /jobs -->`, the first backticked cell of each row).
fn readme_jobs() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- jobs -->")
        .expect("the README's job table");
    let end = readme
        .find("<!-- /jobs -->")
        .expect("the end of the job table");
    readme[start..end]
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Successful runs of each job with a start at or after `since`.
async fn succeeded_since(server: &TestServer, since: i64) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT job FROM job_runs WHERE outcome = 'ok' AND started_at >= $1",
    )
    .bind(since)
    .fetch_all(server.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn wait_for_every_job(server: &TestServer, expected: &BTreeSet<String>, since: i64) {
    let mut ran = BTreeSet::new();
    for _ in 0..1200 {
        ran = succeeded_since(server, since).await;
        if expected.is_subset(&ran) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<&String> = expected.difference(&ran).collect();
    panic!("jobs the README names never ran successfully in the server: {missing:?}");
}

async fn every_readme_job_runs_in_a_started_server(server: TestServer) {
    let expected = readme_jobs();
    for job in [
        "access_reviews",
        "evidence_retention",
        "governance_sweep",
        "webhooks_prune",
    ] {
        assert!(expected.contains(job), "the README lists {job}");
    }
    // The README and the composition name the same jobs.
    let composed: BTreeSet<String> = gatehouse_server::compose::jobs()
        .iter()
        .map(|job| job.name.to_string())
        .collect();
    assert_eq!(composed, expected, "README's job table and compose::jobs()");

    // The first tick runs every job.
    wait_for_every_job(&server, &expected, 0).await;
    // Past the longest interval (an hour), each is due again and runs again.
    server.state.clock.advance(2 * 3600);
    let moved = server.state.clock.now();
    wait_for_every_job(&server, &expected, moved).await;
}
both!(every_readme_job_runs_in_a_started_server, demo);
