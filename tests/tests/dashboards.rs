//! Each role's dashboard in the demo (issue 31): it leads with what waits for that
//! person, oldest first, with its age against its SLA, and every count links to the
//! list it counts. The links are followed here, and each list holds as many as the
//! count said. A partner's dashboard shows its own organisation's work only.

use reqwest::StatusCode;

use crate::both;
use crate::common::TestServer;

const REVIEWER: &str = "reviewer@bank.example.com";
const APPROVER: &str = "approver@bank.example.com";
const BANK_ADMIN: &str = "admin@bank.example.com";
const FJORD_ADMIN: &str = "admin@fjord-analytics.example.com";

/// The number a count shows, from its link to `href`.
fn count_at(html: &str, href: &str) -> i64 {
    let marker = format!("<a href=\"{href}\"><span>");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("a count linking to {href} in {html}"))
        + marker.len();
    html[start..]
        .split("</span>")
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

/// Distinct links in `html` that start with `prefix` followed by an id (`alr_…`).
fn links_to(html: &str, prefix: &str) -> usize {
    let marker = format!("href=\"{prefix}");
    let mut found: Vec<&str> = html
        .match_indices(&marker)
        .filter_map(|(at, _)| html[at + marker.len()..].split('"').next())
        .filter(|rest| rest.contains('_') && !rest.contains('/') && !rest.contains('?'))
        .collect();
    found.sort_unstable();
    found.dedup();
    found.len()
}

async fn each_role_sees_what_waits_and_the_lists_behind_the_counts(server: TestServer) {
    // The reviewer: applications and first reviews, oldest first.
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (status, html) = reviewer.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    let applications = count_at(&html, "/review?status=submitted");
    assert_eq!(applications, 2, "Kestrel's and Orbit's");
    let (_, queue) = reviewer.text("/review?status=submitted").await;
    assert_eq!(
        links_to(&queue, "/review/applications/") as i64,
        applications
    );
    let kestrel = html
        .find("Kestrel Lending Ltd (demo): tier 1 application")
        .unwrap();
    let orbit = html
        .find("Orbit Savings Ltd (demo): tier 1 application")
        .unwrap();
    assert!(kestrel < orbit, "oldest first");
    assert!(html.contains("class=\"overdue\">waiting 3 days, 1 day past its SLA of 2 days"));
    assert!(html.contains("Applications waiting (1 past SLA)"));
    let requests = count_at(&html, "/review/production?status=pending_review");
    assert_eq!(requests, 3);
    let (_, production) = reviewer
        .text("/review/production?status=pending_review")
        .await;
    assert_eq!(
        links_to(&production, "/review/production/") as i64,
        requests
    );
    assert!(html.contains("Two reviewers (four eyes)") && html.contains("One reviewer"));
    assert!(
        !html.contains("Fjord lending checks"),
        "a second approval is the approver's"
    );

    // The approver: the second approval as well, with its count and list.
    let approver = server.demo_staff(APPROVER, 0).await;
    let (_, html) = approver.text("/dashboard").await;
    assert_eq!(
        count_at(&html, "/review/production?status=pending_second_review"),
        1
    );
    assert!(html.contains("Fjord lending checks") && html.contains("Second approval (four eyes)"));
    let (_, second) = approver
        .text("/review/production?status=pending_second_review")
        .await;
    assert_eq!(links_to(&second, "/review/production/"), 1);
    assert!(second.contains("Fjord Analytics Ltd (demo)"));

    // The bank admin: alerts by severity, expiring credentials, reviews, failed runs
    // (after the job that raises the demo's missed service level has run: once
    // raised, later runs add nothing).
    server.run_job("sla_breaches").await;
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (_, html) = admin.text("/dashboard").await;
    for severity in ["high", "medium", "low"] {
        let href = format!("/alerts?severity={severity}");
        let n = count_at(&html, &href);
        // The demo's alert at each severity, and the partner's missed service level
        // (medium) its first `sla_breaches` run raised.
        let open = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM alerts WHERE severity = $1 AND state <> 'resolved'",
        )
        .bind(severity)
        .fetch_one(server.pool())
        .await
        .unwrap();
        assert!(open >= 1, "{severity}");
        assert_eq!(n, open, "{severity}");
        let (status, list) = admin.text(&href).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(links_to(&list, "/alerts/") as i64, n, "{severity}: {list}");
    }
    let (status, _) = admin.text("/alerts?severity=urgent").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("2 credentials expiring"));
    assert!(html.contains("Kestrel Lending Ltd (demo): credential of Kestrel rates (sandbox)"));
    let (_, inventory) = admin
        .text("/governance/bank/inventory?expiring_within=14")
        .await;
    assert!(
        inventory.contains("Kestrel rates (sandbox)")
            && inventory.contains("Orbit compare (sandbox)")
    );
    assert!(!inventory.contains("Fjord affordability (sandbox)"));
    assert!(html.contains("Access reviews in progress") && html.contains("href=\"/reviews/bank/"));
    assert!(html.contains("spark-traffic"), "the traffic sparkline");
    assert!(html.contains("No scheduler run has failed."));
    sqlx::query(
        "INSERT INTO job_runs (id, job, instance, started_at, finished_at, outcome, summary) \
         VALUES ('run_failed_demo', 'usage_rollup', 'test', $1, $1, 'failed', 'database unavailable')",
    )
    .bind(server.state.clock.now())
    .execute(server.pool())
    .await
    .unwrap();
    let (_, html) = admin.text("/dashboard").await;
    assert!(html.contains("usage_rollup") && html.contains("database unavailable"));
    assert!(html.contains("href=\"/governance/bank/runs?outcome=failed\""));
    let (_, runs) = admin.text("/governance/bank/runs?outcome=failed").await;
    assert!(runs.contains("database unavailable") && !runs.contains(">ok<"));
    let (status, _) = admin.text("/governance/bank/runs?outcome=sometimes").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Fjord's partner admin: its tasks, its apps with their traffic, its failures.
    let fjord = server.demo_staff(FJORD_ADMIN, 0).await;
    let (_, html) = fjord.text("/dashboard").await;
    assert!(html.contains("Your tasks"));
    assert!(
        html.contains("Answer the access review of") && html.contains("href=\"/reviews/items/")
    );
    assert!(html.contains("id=\"dash-apps-table\"") && html.contains("Fjord insights"));
    assert!(html.contains("id=\"spark-app-0\""));
    assert!(html.contains("id=\"dash-failures\""));
    assert!(!html.contains("Acme Budgeting demo app"));

    // Acme's partner admin starts a Tier 1 application: each section still to do is
    // a task leading to that section, and the count of sections matches the wizard's.
    let acme = server
        .demo_partner_user(crate::onboarding::ACME_ADMIN)
        .await;
    let application = crate::onboarding::start(&acme, "1").await;
    let (_, html) = acme.text("/dashboard").await;
    assert!(html.contains("Your tasks"));
    for (slug, title) in [
        ("profile", "Organisation profile"),
        ("declaration", "Declaration"),
    ] {
        assert!(
            html.contains(&format!(
                "<a href=\"/onboarding/{application}/steps/{slug}\">Tier 1 application: {title}</a>"
            )),
            "{slug}: {html}"
        );
    }
    assert!(!html.contains("Fjord"), "another organisation's tasks");

    // Acme's developer: their own app, nobody else's, and no admin tasks.
    let developer = server.demo_partner().await;
    let (_, html) = developer.text("/dashboard").await;
    assert!(html.contains("Acme Budgeting demo app"));
    assert!(!html.contains("Fjord") && !html.contains("Your tasks"));
    assert!(html.contains("No failed request in the last 7 days."));
}
both!(
    each_role_sees_what_waits_and_the_lists_behind_the_counts,
    demo
);

/// The rest of the console (issue 31) in the demo: the overview's small multiples
/// (each top consumer's calls over the range), relative ages beside times, waits
/// told against their SLA, and evidence expiring linked from the bank's dashboard
/// to the page that lists it.
async fn the_console_shows_trends_ages_and_expiring_evidence(server: TestServer) {
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (status, html) = admin.text("/oversight?range=7d").await;
    assert_eq!(status, StatusCode::OK);
    let top = html.split("id=\"top-consumers\"").nth(1).unwrap();
    let top = top.split("</table>").next().unwrap();
    assert!(top.contains("id=\"trend-0\""), "{top}");
    assert!(
        top.contains("over the last 7 days in 42 equal parts of whole hours"),
        "{top}"
    );
    let (_, html) = admin.text("/oversight?range=24h").await;
    assert!(html.contains("over the last 24 hours in 24 equal parts"));

    // Times with their age against the application's clock.
    let (_, alerts) = admin.text("/alerts").await;
    assert!(alerts.contains(" ago)</td>"), "{alerts}");
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (_, queue) = reviewer
        .text("/review/production?status=pending_review")
        .await;
    assert!(queue.contains("Waiting "), "{queue}");
    assert!(queue.contains("SLA"), "{queue}");

    // Fjord's penetration test, accepted with its dossier, expires 165 days after
    // the demo starts: 150 days on it is on the bank admin's dashboard, linked to
    // its row on the evidence page, which the admin may read but not accept from.
    server.state.clock.advance(150 * 86_400);
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (_, html) = admin.text("/dashboard").await;
    let item = html
        .split("href=\"/governance/bank/evidence#evidence-")
        .nth(1)
        .unwrap_or_else(|| panic!("an evidence link in {html}"));
    let id = item.split('"').next().unwrap();
    assert!(
        item.contains("Fjord Analytics Ltd (demo): pen test"),
        "{item}"
    );
    let (status, page) = admin.text("/governance/bank/evidence").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"evidence-{id}\"")), "{page}");
    assert!(!page.contains("/accept\""), "accepting is the reviewers'");
    let (status, _) = server
        .demo_partner()
        .await
        .text("/governance/bank/evidence")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
both!(the_console_shows_trends_ages_and_expiring_evidence, demo);

/// A demo start that stopped half way (issue 31): the next start resumes, seeding
/// only what is missing. Here the seeds' flags are gone and Orbit's application is
/// back in draft, as if the start had stopped before submitting it.
async fn an_interrupted_demo_start_resumes_without_duplicates(server: TestServer) {
    let count = |sql: &'static str| {
        let pool = server.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let apps = count("SELECT COUNT(*) FROM apps").await;
    let requests = count("SELECT COUNT(*) FROM access_requests").await;
    let users = count("SELECT COUNT(*) FROM users").await;
    sqlx::query(
        "DELETE FROM settings WHERE key IN ('demo_onboarding_queue_seeded', 'demo_production_queue_seeded')",
    )
    .execute(server.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE applications SET status = 'draft', submitted_at = NULL WHERE org_id = \
         (SELECT org_id FROM users WHERE email = 'admin@orbit-savings.example.com')",
    )
    .execute(server.pool())
    .await
    .unwrap();
    gatehouse_server::compose::seed_demo(&server.state)
        .await
        .expect("the second start seeds what is missing");
    assert_eq!(count("SELECT COUNT(*) FROM apps").await, apps);
    assert_eq!(
        count("SELECT COUNT(*) FROM access_requests").await,
        requests
    );
    assert_eq!(count("SELECT COUNT(*) FROM users").await, users);
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (_, html) = reviewer.text("/dashboard").await;
    assert_eq!(
        count_at(&html, "/review?status=submitted"),
        2,
        "Orbit's is submitted again"
    );
    assert_eq!(
        count_at(&html, "/review/production?status=pending_review"),
        3
    );
}
both!(an_interrupted_demo_start_resumes_without_duplicates, demo);
