//! The development mailbox: when no SMTP relay is configured, e-mails are shown
//! here instead of being sent. It does not exist when SMTP is configured.

use axum::extract::State;
use axum::response::Html;
use leptos::prelude::*;

use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::time;

pub async fn page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    if !state.settings.dev_mailbox() {
        return Err(Error::NotFound);
    }
    let messages: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT recipient, subject, body, created_at FROM outbox ORDER BY created_at DESC, id DESC LIMIT 100",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let items = messages
        .into_iter()
        .map(|(to, subject, body, at)| {
            let lines = body
                .lines()
                .map(|line| {
                    let line = line.to_string();
                    if line.starts_with("http://") || line.starts_with("https://") {
                        view! { <a href=line.clone()>{line.clone()}</a><br/> }.into_any()
                    } else {
                        view! { {line}<br/> }.into_any()
                    }
                })
                .collect_view();
            view! {
                <article class="mail">
                    <h2>{subject}</h2>
                    <p><strong>"To: "</strong>{to}" · "{time::display(at)}</p>
                    <div class="mail-body">{lines}</div>
                </article>
            }
        })
        .collect_view();
    let body = view! {
        <p class="lead">"No SMTP relay is configured, so Gatehouse keeps its e-mails here. Newest first."</p>
        <div class="warning"><p>"Configure --smtp-url before real people use this installation."</p></div>
        {items}
    };
    Ok(ctx.render("Mailbox", body.into_any()))
}
