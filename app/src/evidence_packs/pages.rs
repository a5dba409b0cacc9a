//! The bank's list of evidence packs.

use leptos::prelude::*;

use super::Listed;
use crate::platform::time::when;

pub fn list(packs: &[Listed], jwks_url: &str) -> AnyView {
    let rows = packs
        .iter()
        .map(|p| {
            view! {
                <tr>
                    <td><code>{p.id.clone()}</code></td>
                    <td>{p.title.clone()}</td>
                    <td>{p.kind.clone()}</td>
                    <td>{when(p.created_at)}</td>
                    <td>{p.entries}</td>
                    <td><a href=format!("/evidence-packs/{}/download", p.id)>{format!("Download {}", p.id)}</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"Each offboarding writes a signed evidence pack: a manifest of everything it ended, with the audit event of each and the audit chain's head when it finished, and the same as CSV. The manifest is a JWS signed with EdDSA; the public key is published at "
            <a href=jwks_url.to_string()>{jwks_url.to_string()}</a>
            ". Check a pack with " <code>"gatehouse evidence verify PATH"</code>
            ": it checks the signature, the CSV, that every listed audit event is still in the trail with the same hash, and that the chain verifies up to its head."</p>
        {packs.is_empty().then(|| view! { <p>"No evidence pack has been written yet."</p> })}
        <table id="evidence-packs">
            <caption class="visually-hidden">"Evidence packs, newest first"</caption>
            <thead><tr><th scope="col">"Id"</th><th scope="col">"Of"</th><th scope="col">"Kind"</th><th scope="col">"Written"</th><th scope="col">"Entries"</th><th scope="col">"File"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
