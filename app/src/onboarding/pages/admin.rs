//! The bank admin's catalogue pages: scopes, tiers and questionnaire versions.

use super::*;

/// `/admin/catalogue`: scopes, tiers, questionnaires.
pub fn catalogue(
    scopes: &[ScopeRow],
    tiers: &[Tier],
    questionnaires: &[QuestionnaireVersion],
    csrf: &str,
    form: &Form,
) -> AnyView {
    let scope_rows = scopes
        .iter()
        .map(|s| {
            let class = model::DATA_CLASSES.iter().find(|(v, _)| *v == s.data_class).map(|(_, l)| *l).unwrap_or("");
            view! { <tr><td><code>{s.scope.clone()}</code></td><td>{s.product.clone()}</td><td>{class}</td><td>{s.sensitivity.clone()}</td><td>{s.description.clone()}</td></tr> }
        })
        .collect_view();
    let tier_rows = tiers
        .iter()
        .map(|t| {
            view! {
                <section class="card">
                    <h3>{t.name.clone()}</h3>
                    <p>{t.description.clone()}</p>
                    {tier_summary(t)}
                    <p><a href=format!("/admin/catalogue/tiers/{}", t.level)>{format!("Edit tier {}", t.level)}</a></p>
                </section>
            }
        })
        .collect_view();
    let q_rows = questionnaires
        .iter()
        .map(|q| {
            let publish = (q.status == "draft").then(|| view! {
                <form method="post" action=format!("/admin/catalogue/questionnaires/{}/publish", q.id) class="inline">
                    {csrf_field(csrf)}
                    <button type="submit" class="secondary">"Publish"<span class="visually-hidden">{format!(" {} version {}", q.name, q.version)}</span></button>
                </form>
            });
            view! {
                <tr>
                    <td><a href=format!("/admin/catalogue/questionnaires/{}", q.id)>{format!("{} v{}", q.name, q.version)}</a></td>
                    <td>{q.content.title.clone()}</td>
                    <td>{q.status.clone()}</td>
                    <td>{q.published_at.map(when).unwrap_or_default()}</td>
                    <td>{publish}</td>
                </tr>
            }
        })
        .collect_view();
    let scope_error = form.error("scope");
    let product_error = form.error("product");
    let description_error = form.error("description");
    view! {
        <p class="lead">"The catalogue is decided before any request arrives: what each tier opens and demands. Changes apply to new applications; answers already given keep their questionnaire version."</p>
        <p>"What happens to credentials once issued (dormancy, expiry warnings, rotation overlap, grace periods) is the "<a href="/admin/lifecycle">"lifecycle policy"</a>", per tier and for the sandbox."</p>
        <h2>"Tiers"</h2>
        <div class="cards">{tier_rows}</div>
        <h2>"Questionnaires"</h2>
        <table id="questionnaires">
            <thead><tr><th>"Version"</th><th>"Title"</th><th>"Status"</th><th>"Published"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{q_rows}</tbody>
        </table>
        <p><a href="/admin/catalogue/questionnaires/new">"Write a new questionnaire version"</a></p>
        <h2>"Scopes"</h2>
        <table id="scopes">
            <thead><tr><th>"Scope"</th><th>"Product"</th><th>"Data class"</th><th>"Sensitivity"</th><th>"Description"</th></tr></thead>
            <tbody>{scope_rows}</tbody>
        </table>
        <h3>"Add or change a scope"</h3>
        {error_summary(form)}
        <form method="post" action="/admin/catalogue/scopes" novalidate>
            {csrf_field(csrf)}
            <div class=field_class(&scope_error)><label for="scope">"Scope name"</label>{error_line(&scope_error, "scope-error".into())}<input id="scope" name="scope" type="text" value=form.value("scope")/></div>
            <div class=field_class(&product_error)><label for="product">"API product"</label>{error_line(&product_error, "product-error".into())}<input id="product" name="product" type="text" value=form.value("product")/></div>
            <div class=field_class(&description_error)><label for="description">"Description"</label>{error_line(&description_error, "description-error".into())}{crate::platform::ui::TextArea::new("description", 3).invalid(description_error.is_some()).render(form.value("description"))}</div>
            {option_select("data_class", "Data class", &model::DATA_CLASSES, &form.value("data_class"))}
            {option_select("sensitivity", "Sensitivity", &model::SENSITIVITIES, &form.value("sensitivity"))}
            <button type="submit">"Save the scope"</button>
        </form>
    }
    .into_any()
}

/// `/admin/catalogue/tiers/{level}`.
pub fn tier_form(
    level: i64,
    scopes: &[ScopeRow],
    questionnaires: &[QuestionnaireVersion],
    form: &Form,
    csrf: &str,
) -> AnyView {
    let chosen_scopes: Vec<String> = form
        .value("scopes")
        .split(' ')
        .map(str::to_string)
        .collect();
    let chosen_auth: Vec<String> = form
        .value("client_auth")
        .split(' ')
        .map(str::to_string)
        .collect();
    let q_options = questionnaires
        .iter()
        .filter(|q| q.status == "published")
        .map(|q| {
            let selected = form.value("questionnaire_id") == q.id;
            view! { <option value=q.id.clone() selected=selected>{format!("{} v{} — {}", q.name, q.version, q.content.title)}</option> }
        })
        .collect_view();
    let text = |name: &'static str, label: &'static str, hint: &'static str| {
        let error = form.error(name);
        view! {
            <div class=field_class(&error)>
                <label for=name>{label}</label>
                {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
                {error_line(&error, format!("{name}-error"))}
                <input id=name name=name type="text" value=form.value(name)/>
            </div>
        }
    };
    let evidence_error = form.error("evidence");
    let q_error = form.error("questionnaire_id");
    view! {
        {error_summary(form)}
        <form method="post" action=format!("/admin/catalogue/tiers/{level}") novalidate>
            {csrf_field(csrf)}
            {text("name", "Name", "")}
            {text("description", "Description", "")}
            {checkbox_group("scopes", "Scopes this tier opens", scopes.iter().map(|s| (s.scope.clone(), format!("{} ({})", s.product, s.scope))).collect(), &chosen_scopes, form)}
            <div class=field_class(&q_error)>
                <label for="questionnaire_id">"Questionnaire version"</label>
                {error_line(&q_error, "questionnaire_id-error".into())}
                <select id="questionnaire_id" name="questionnaire_id">{q_options}</select>
            </div>
            <div class=field_class(&evidence_error)>
                <label for="evidence">"Evidence required"</label>
                <p class="hint" id="evidence-hint">{format!("One per line, as kind:maximum age in days. Kinds: {}.", EvidenceKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))}</p>
                {error_line(&evidence_error, "evidence-error".into())}
                {crate::platform::ui::TextArea::new("evidence", 5).described_by(Some("evidence-hint".into())).render(form.value("evidence"))}
            </div>
            {checkbox_group("client_auth", "Client authentication methods allowed", model::CLIENT_AUTH_METHODS.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect(), &chosen_auth, form)}
            {text("max_credential_days", "Longest credential lifetime (days)", "")}
            {text("rate_limit_per_minute", "Default rate limit (requests a minute)", "")}
            {text("review_sla_hours", "Review SLA (hours)", "")}
            <button type="submit">"Save the tier"</button>
        </form>
        <p><a href="/admin/catalogue">"Back to the catalogue"</a></p>
    }
    .into_any()
}

/// `/admin/catalogue/questionnaires/new`: a new version, written as JSON.
pub fn questionnaire_form(form: &Form, csrf: &str) -> AnyView {
    let name_error = form.error("name");
    let content_error = form.error("content");
    view! {
        <p>"A questionnaire is JSON: a title and sections of questions. Each question has an id, a label, optional help, a type (yes_no with an optional expected answer, choice with options, text (long for a text area), email, date or number), required (or required_from_tier) and a weight from 0 to 10. Saving makes a draft; publishing freezes it, and tiers can then use it."</p>
        {error_summary(form)}
        <form method="post" action="/admin/catalogue/questionnaires" novalidate>
            {csrf_field(csrf)}
            <div class=field_class(&name_error)>
                <label for="name">"Questionnaire name"</label>
                <p class="hint">"Versions share a name, e.g. security. Lower-case letters, digits and _."</p>
                {error_line(&name_error, "name-error".into())}
                <input id="name" name="name" type="text" value=form.value("name")/>
            </div>
            <div class=field_class(&content_error)>
                <label for="content">"Questions (JSON)"</label>
                {error_line(&content_error, "content-error".into())}
                {crate::platform::ui::TextArea::new("content", 30).class("code").render(form.value("content"))}
            </div>
            <button type="submit">"Save as draft"</button>
        </form>
    }
    .into_any()
}

/// A questionnaire version, read-only, as partners will see its questions.
pub fn questionnaire_view(q: &QuestionnaireVersion, csrf: &str) -> AnyView {
    let form = Form::new();
    let sections = q
        .content
        .sections
        .iter()
        .map(|s| {
            let fields = s.questions.iter().map(|question| {
                let weight = format!("Weight {}", question.weight);
                view! { <div class="preview">{question_field(question, &form, 3)}<p class="hint">{weight}</p></div> }
            }).collect_view();
            view! { <h2>{s.title.clone()}</h2>{fields} }
        })
        .collect_view();
    let publish = (q.status == "draft").then(|| {
        view! {
            <form method="post" action=format!("/admin/catalogue/questionnaires/{}/publish", q.id)>
                {csrf_field(csrf)}
                <button type="submit">"Publish this version"</button>
            </form>
        }
    });
    let json = serde_json::to_string_pretty(&q.content).unwrap_or_default();
    view! {
        <p class="lead">{format!("{} v{} — {}", q.name, q.version, q.status)}</p>
        {publish}
        <fieldset disabled=true class="plain"><legend class="visually-hidden">"Preview"</legend>{sections}</fieldset>
        <h2>"As JSON"</h2>
        <pre><code>{json}</code></pre>
        <p><a href=format!("/admin/catalogue/questionnaires/new?from={}", q.id)>"Start a new version from this one"</a></p>
    }
    .into_any()
}
