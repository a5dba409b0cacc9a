//! `gatehouse inventory` and `gatehouse governance preview|sweep`.

use std::process::ExitCode;

use app::governance::{inventory, sweep};
use app::AppState;

/// The inventory rows matching `filter` as text, exactly as the bank's export
/// writes them.
pub async fn inventory_text(
    state: &AppState,
    filter: &inventory::Filter,
    format: &str,
) -> Result<String, String> {
    let listing = inventory::list(state, None, filter, usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    match format {
        "csv" => inventory::to_csv(&listing.rows),
        _ => inventory::to_json(&listing.rows),
    }
    .map_err(|e| e.to_string())
}

/// `gatehouse inventory`: prints the rows matching `filter`.
pub async fn inventory(
    settings: app::Settings,
    filter: &inventory::Filter,
    format: &str,
) -> Result<ExitCode, String> {
    let state = crate::compose::state(settings)
        .await
        .map_err(|e| e.to_string())?;
    let text = crate::progress::Bar::around(
        "Reading the consumer inventory",
        inventory_text(&state, filter, format),
    )
    .await?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_time(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("--as-of must be an RFC 3339 time such as 2027-01-01T00:00:00Z: {e}"))
}

/// One line per action: kind, organisation, client, credential, what it does.
pub fn plan_lines(plan: &[sweep::Action]) -> String {
    let mut out = String::new();
    for action in plan {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            action.kind.as_str(),
            action.org_id,
            action.client_id.as_deref().unwrap_or("-"),
            action.credential_id.as_deref().unwrap_or("-"),
            action.description
        ));
    }
    out
}

/// Prints every action the sweep would take at `as_of` (default now), changing nothing.
pub async fn governance_preview(
    settings: app::Settings,
    as_of: Option<&str>,
    json: bool,
) -> Result<ExitCode, String> {
    let state = crate::compose::state(settings)
        .await
        .map_err(|e| e.to_string())?;
    let at = match as_of {
        Some(text) => parse_time(text)?,
        None => state.clock.now(),
    };
    let plan = sweep::plan(&state, at).await.map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?
        );
    } else if plan.is_empty() {
        println!("nothing to do at {}", app::platform::time::rfc3339(at));
    } else {
        print!("{}", plan_lines(&plan));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the sweep now through the scheduler (so never beside another instance's run).
pub async fn governance_sweep(settings: app::Settings) -> Result<ExitCode, String> {
    let state = crate::compose::state(settings)
        .await
        .map_err(|e| e.to_string())?;
    match crate::progress::Bar::around(
        "Running the governance sweep",
        crate::compose::run_job_now(&state, "governance_sweep"),
    )
    .await
    .map_err(|e| e.to_string())?
    {
        Some(summary) => println!("{summary}"),
        None => {
            eprintln!("another instance is running the sweep now");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}
