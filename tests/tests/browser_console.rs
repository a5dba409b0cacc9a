//! The console at the two widths people use (issue 31): every demo role's dashboard,
//! the pages its navigation leads to and the first items waiting on its dashboard,
//! at 1280 and at 390 pixels wide. The browser
//! itself measures (WebDriver script execution in the test; the pages have none):
//! no page scrolls sideways at 390 px except inside a table's own container, and no
//! table header cell breaks inside a word. Each page's screenshot is written under
//! `target/tmp/console/`; with `GATEHOUSE_UPDATE_SCREENSHOTS=1` the README's
//! screenshots (`docs/screenshots/`) are written again from the same run.

use fantoccini::error::CmdError;
use fantoccini::Locator;

use crate::browser::{open_browser_with, start_driver};
use crate::browser_axe::slug;
use crate::browser_onboarding::{sign_in_with, sign_out};
use crate::common::{totp_code, Backend, TestServer};

/// The page's problems at this width: sideways scrolling outside a table's own
/// container, and header cells that break inside a word (a word whose text spans
/// more than one line box).
pub(crate) const MEASURE: &str = r#"
const problems = [];
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth + 1) {
  const culprits = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > doc.clientWidth + 1 && !(el.parentElement && el.parentElement.closest('.table-wrap'))) {
      culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''));
      if (culprits.length > 4) break;
    }
  }
  problems.push('scrolls sideways: ' + doc.scrollWidth + ' > ' + doc.clientWidth + ' (' + culprits.join(', ') + ')');
}
for (const th of document.querySelectorAll('th')) {
  const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const re = /\S+/g;
    let m;
    while ((m = re.exec(node.data))) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) problems.push('header word broken: "' + m[0] + '"');
    }
  }
}
return problems;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_s_pages_fit_1280_and_390_pixels() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let secret = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
        .expect("the demo secret");
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&shots).unwrap();
    let readme_shots = std::env::var("GATEHOUSE_UPDATE_SCREENSHOTS")
        .is_ok_and(|v| v == "1")
        .then(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots"));
    let profile = tempfile::tempdir().unwrap();
    // JavaScript on for the test's own measurements; the pages carry none.
    let browser = open_browser_with(&webdriver, &binary, profile.path(), true).await;
    let base = server.base.clone();
    let roles = [
        ("admin@bank.example.com", true),
        ("reviewer@bank.example.com", true),
        ("approver@bank.example.com", true),
        ("admin@fjord-analytics.example.com", true),
        ("dev@acme-budgeting.example.com", false),
    ];
    let result = async {
        let mut problems = Vec::new();
        let mut measured = 0;
        for (email, totp) in roles {
            browser.set_window_size(1280, 1000).await?;
            let code = totp.then(|| totp_code(&server.state.clock, &secret, 0));
            sign_in_with(&browser, &base, email, code).await?;
            let links = browser
                .execute(
                    "return Array.from(document.querySelectorAll('nav[aria-label=Main] a[href]')).map(a => a.getAttribute('href'));",
                    vec![],
                )
                .await?;
            let mut pages: Vec<String> = vec!["/dashboard".into()];
            for link in links.as_array().cloned().unwrap_or_default() {
                let Some(link) = link.as_str() else { continue };
                if link.starts_with('/') && !pages.iter().any(|p| p == link) && link != "/dev/mailbox" {
                    pages.push(link.to_string());
                }
            }
            // Deeper pages: the first items waiting on the dashboard (a dossier, a
            // request, a client, an alert, a review), at most three a role.
            let details = browser
                .execute(
                    "return Array.from(document.querySelectorAll('main .waiting a[href]')).map(a => a.getAttribute('href').split('#')[0]);",
                    vec![],
                )
                .await?;
            let mut deeper = 0;
            for link in details.as_array().cloned().unwrap_or_default() {
                let Some(link) = link.as_str() else { continue };
                if deeper < 3 && link.starts_with('/') && !pages.iter().any(|p| p == link) {
                    pages.push(link.to_string());
                    deeper += 1;
                }
            }
            if email.starts_with("admin@bank") {
                // The usage page of a busy demo client (its chart is the README's).
                let id: String = sqlx::query_scalar(
                    "SELECT app_id FROM request_log GROUP BY app_id ORDER BY COUNT(*) DESC, app_id LIMIT 1",
                )
                .fetch_one(server.pool())
                .await
                .expect("the busiest demo client");
                pages.push(format!("/oversight/clients/{id}?range=7d"));
            }
            for (width, height) in [(1280_u32, 1000_u32), (390, 844)] {
                browser.set_window_size(width, height).await?;
                for path in &pages {
                    browser.goto(&format!("{base}{path}")).await?;
                    browser.wait().for_element(Locator::Css("main h1")).await?;
                    let found = browser.execute(MEASURE, vec![]).await?;
                    measured += 1;
                    for problem in found.as_array().cloned().unwrap_or_default() {
                        problems.push(format!("{email} {path} at {width}px: {}", problem.as_str().unwrap_or_default()));
                    }
                    let name = format!("{}-{}-{width}.png", slug(email.split('@').next().unwrap_or("x")) + "-" + &slug(email.split('@').nth(1).unwrap_or("x").split('.').next().unwrap_or("x")), slug(path));
                    let png = browser.screenshot().await?;
                    std::fs::write(shots.join(&name), &png).unwrap();
                    if let Some(dir) = &readme_shots {
                        let keep = match (email, path.as_str(), width) {
                            ("admin@bank.example.com", "/dashboard", 1280) => Some("bank-dashboard.png"),
                            ("admin@bank.example.com", p, 1280) if p.starts_with("/oversight/clients/") => Some("usage.png"),
                            ("reviewer@bank.example.com", "/dashboard", 390) => Some("reviewer-dashboard-390.png"),
                            _ => None,
                        };
                        if let Some(file) = keep {
                            std::fs::create_dir_all(dir).unwrap();
                            std::fs::write(dir.join(file), &png).unwrap();
                        }
                    }
                }
            }
            browser.set_window_size(1280, 1000).await?;
            browser.goto(&format!("{base}/dashboard")).await?;
            sign_out(&browser).await?;
        }
        Ok::<_, CmdError>((problems, measured))
    }
    .await;
    let _ = browser.close().await;
    let (problems, measured) = result.expect("the console crawl");
    eprintln!(
        "measured {measured} pages; screenshots in {}",
        shots.display()
    );
    assert!(measured >= 60, "only {measured} pages measured");
    assert!(
        problems.is_empty(),
        "layout problems:\n{}",
        problems.join("\n")
    );
}
