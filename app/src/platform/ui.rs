//! Page chrome and form building blocks, rendered on the server with Leptos.
//!
//! Every page is complete HTML that works without JavaScript: forms post to the
//! server, which redirects on success (post/redirect/get) or answers the same page
//! with an error summary, field messages and the user's input kept
//! (the GOV.UK Design System's error pattern).

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::authz::Role;

/// What the layout needs to know about the request.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    pub viewer: Option<Viewer>,
    pub csrf: String,
    pub flash: Option<String>,
    /// E-mails are kept in the built-in mailbox (no SMTP configured).
    pub mailbox: bool,
    /// The request's path (no query): the navigation marks the link it is under.
    pub path: String,
}

#[derive(Clone, Debug)]
pub struct Viewer {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub org_name: Option<String>,
    pub verified: bool,
}

/// A whole page: the layout around `body`, as an HTML document.
pub fn render_page(chrome: &Chrome, title: &str, body: AnyView) -> String {
    let chrome = chrome.clone();
    let title = title.to_string();
    let owner = Owner::new();
    let html = owner.with(move || layout(chrome, title, body).to_html());
    format!("<!DOCTYPE html>{}", wrap_tables(&html))
}

/// The visible text of an HTML fragment (tags dropped).
fn text_of(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Puts every table in its own scrolling container, so a wide table scrolls inside
/// it on a narrow screen and never the page. The container is a focusable region
/// (keyboard users can scroll it), named by the table's caption or else the heading
/// before it, each name unique on the page. Tables are Gatehouse's own markup: user
/// text reaches the page escaped, so `<table` here is always a tag.
pub fn wrap_tables(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    let mut used: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<table") {
        let (before, table) = rest.split_at(at);
        out.push_str(before);
        let open_end = table.find('>').map_or(table.len(), |n| n + 1);
        let after_open = &table[open_end..];
        let caption = after_open
            .trim_start()
            .strip_prefix("<caption")
            .and_then(|c| c.split("</caption>").next())
            .and_then(|c| c.split_once('>').map(|(_, text)| text_of(text)));
        let heading = || {
            let done = out.len();
            ["</h2>", "</h3>"]
                .iter()
                .filter_map(|close| out[..done].rfind(close).map(|end| (end, *close)))
                .max_by_key(|(end, _)| *end)
                .and_then(|(end, close)| {
                    let open = &close.replace('/', "")[..3];
                    out[..end]
                        .rfind(open)
                        .map(|start| text_of(&out[start..end]))
                })
        };
        let mut name = caption
            .filter(|c| !c.is_empty())
            .or_else(heading)
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "Table".to_string());
        let base = name.clone();
        let mut n = 1;
        while used.contains(&name) {
            n += 1;
            name = format!("{base} ({n})");
        }
        used.push(name.clone());
        out.push_str(&format!(
            "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-label=\"{}\">",
            name.replace('"', "&quot;")
        ));
        let close = table
            .find("</table>")
            .map_or(table.len(), |n| n + "</table>".len());
        out.push_str(&table[..close]);
        out.push_str("</div>");
        rest = &table[close..];
    }
    out.push_str(rest);
    out
}

/// A short page with a title and one message (errors, confirmations).
#[derive(Clone, Debug)]
pub struct MessagePage {
    pub title: String,
    pub message: String,
}

impl MessagePage {
    pub fn new(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
        }
    }
    pub fn not_found() -> Self {
        Self::new(
            "Page not found",
            "If you typed the web address, check it is correct. If you followed a link, it may have expired.",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            "Sorry, there is a problem with Gatehouse",
            "Try again later. Nothing you sent has been saved.",
        )
    }
}

pub fn render_message_page(page: MessagePage) -> axum_html::Html {
    axum_html::Html(render_page(
        &Chrome::default(),
        &page.title,
        message_body(page.message),
    ))
}

pub fn message_body(message: String) -> AnyView {
    view! { <p class="lead">{message}</p> <p><a href="/">"Go to the Gatehouse home page"</a></p> }
        .into_any()
}

/// A tiny shim so this module does not depend on axum when built for `hydrate`.
pub mod axum_html {
    pub struct Html(pub String);
    #[cfg(feature = "ssr")]
    impl axum::response::IntoResponse for Html {
        fn into_response(self) -> axum::response::Response {
            axum::response::Html(self.0).into_response()
        }
    }
}

/// A section of the navigation: its name and its links (path, label).
type NavGroup = (&'static str, Vec<(&'static str, &'static str)>);

/// The navigation, in a few named sections per role (the first, unnamed, holds the
/// dashboard or the public pages).
fn nav_groups(chrome: &Chrome) -> Vec<NavGroup> {
    let mut groups: Vec<NavGroup> = Vec::new();
    match &chrome.viewer {
        None => groups.push((
            "",
            vec![
                ("/", "Home"),
                ("/sandbox/docs", "Sandbox docs"),
                ("/signup", "Create an account"),
                ("/signin", "Sign in"),
            ],
        )),
        Some(viewer) => {
            groups.push(("", vec![("/dashboard", "Dashboard")]));
            if viewer.verified {
                match viewer.role {
                    Role::PartnerAdmin | Role::PartnerDeveloper => {
                        groups.push((
                            "Build",
                            vec![
                                ("/sandbox/apps", "Sandbox"),
                                ("/sandbox/data", "Sandbox data"),
                                ("/software", "Software statements"),
                            ],
                        ));
                        groups.push((
                            "Access",
                            vec![
                                ("/onboarding", "Onboarding"),
                                ("/production", "Production"),
                                ("/production/policy", "Risk policy"),
                            ],
                        ));
                        groups.push((
                            "Governance",
                            vec![
                                ("/governance/inventory", "Inventory"),
                                ("/reviews", "Reviews"),
                            ],
                        ));
                        let mut org = vec![
                            ("/org/members", "Team"),
                            ("/agreements", "Agreements"),
                            ("/relationship", "Service levels"),
                        ];
                        if viewer.role == Role::PartnerAdmin {
                            org.push(("/webhooks", "Webhooks"));
                            org.push(("/organisation/sso", "Single sign-on"));
                        }
                        groups.push(("Organisation", org));
                    }
                    Role::Admin => {
                        groups.push((
                            "Partners",
                            vec![
                                ("/admin/users", "Users"),
                                ("/admin/catalogue", "Catalogue"),
                                ("/admin/agreements", "Agreements"),
                                ("/relationships", "Service levels"),
                                ("/offboarding/bank", "Offboarding"),
                            ],
                        ));
                        groups.push((
                            "Access",
                            vec![
                                ("/review/policy", "Risk policy"),
                                ("/governance/bank/inventory", "Inventory"),
                                ("/governance/bank/suspensions", "Suspensions"),
                                ("/admin/software", "Software directory"),
                            ],
                        ));
                        groups.push((
                            "Governance",
                            vec![
                                ("/reviews/bank", "Access reviews"),
                                ("/incidents", "Incidents"),
                            ],
                        ));
                        groups.push((
                            "Oversight",
                            vec![("/oversight", "Oversight"), ("/alerts", "Alerts")],
                        ));
                        groups.push((
                            "Administration",
                            vec![
                                ("/admin/audit", "Audit trail"),
                                ("/admin/sso", "Single sign-on"),
                                ("/admin/instances", "Instances"),
                            ],
                        ));
                    }
                    Role::Reviewer | Role::Approver => {
                        groups.push((
                            "Partners",
                            vec![
                                ("/review", "Review queue"),
                                ("/review/production", "Production requests"),
                                ("/relationships", "Service levels"),
                            ],
                        ));
                        groups.push((
                            "Governance",
                            vec![
                                ("/governance/bank/inventory", "Inventory"),
                                ("/governance/bank/exceptions", "Exceptions"),
                                ("/admin/software", "Software directory"),
                                ("/reviews/bank", "Access reviews"),
                                ("/evidence-packs", "Evidence packs"),
                            ],
                        ));
                        groups.push((
                            "Oversight",
                            vec![
                                ("/incidents", "Incidents"),
                                ("/oversight", "Oversight"),
                                ("/alerts", "Alerts"),
                            ],
                        ));
                    }
                }
            }
            groups.push(("Account", vec![("/account", "Account security")]));
        }
    }
    if chrome.mailbox {
        groups.push(("Development", vec![("/dev/mailbox", "Mailbox")]));
    }
    groups
}

/// The link the page at `path` is under: the longest link that is the path or one of
/// its parents ("/review/production/x" is under "/review/production", not "/review").
fn current_link(groups: &[NavGroup], path: &str) -> Option<&'static str> {
    groups
        .iter()
        .flat_map(|(_, links)| links.iter().map(|(href, _)| *href))
        .filter(|href| {
            path == *href
                || (*href != "/" && path.starts_with(href) && path[href.len()..].starts_with('/'))
        })
        .max_by_key(|href| href.len())
}

fn layout(chrome: Chrome, title: String, body: AnyView) -> impl IntoView {
    let groups = nav_groups(&chrome);
    let current = current_link(&groups, &chrome.path);
    let links = groups
        .into_iter()
        .map(|(name, links)| {
            let items = links
                .into_iter()
                .map(|(href, label)| {
                    // "page" on the page itself, "true" on the section a deeper page
                    // belongs to (WAI-ARIA: aria-current).
                    let here = (Some(href) == current).then_some(if href == chrome.path {
                        "page"
                    } else {
                        "true"
                    });
                    view! { <li><a href=href aria-current=here>{label}</a></li> }
                })
                .collect_view();
            let heading =
                (!name.is_empty()).then(|| view! { <span class="nav-heading">{name}</span> });
            view! { <li class="nav-group">{heading}<ul>{items}</ul></li> }
        })
        .collect_view();
    let who = chrome.viewer.clone().map(|v| {
        let org = v.org_name.map(|o| format!(" · {o}")).unwrap_or_default();
        view! {
            <div class="who">
                <span>{format!("{} ({}{})", v.name, v.role.label(), org)}</span>
                <form method="post" action="/signout" class="inline">
                    <input type="hidden" name="csrf_token" value=chrome.csrf.clone()/>
                    <button type="submit" class="link-button">"Sign out"</button>
                </form>
            </div>
        }
    });
    let flash = chrome.flash.clone().map(|message| {
        view! { <div class="notice" role="status"><p>{message}</p></div> }
    });
    let page_title = format!("{title} — Gatehouse");
    view! {
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>{page_title}</title>
                <link rel="stylesheet" href="/static/gatehouse.css"/>
            </head>
            <body>
                <a class="skip-link" href="#main">"Skip to main content"</a>
                <header class="site-header">
                    <div class="site-bar">
                        <a class="brand" href="/">"Gatehouse"</a>
                        {who}
                    </div>
                    <nav aria-label="Main"><ul class="nav-groups">{links}</ul></nav>
                </header>
                <main id="main">
                    {flash}
                    <h1>{title}</h1>
                    {body}
                </main>
                <footer class="site-footer">
                    <p>"Gatehouse — partner onboarding and API access governance. All sandbox data is synthetic."</p>
                </footer>
            </body>
        </html>
    }
}

/// A form's submitted values and its errors, in the order they should be read.
#[derive(Clone, Debug, Default)]
pub struct Form {
    values: BTreeMap<String, String>,
    errors: Vec<(String, String)>,
}

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    pub fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn error(&self, name: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, message)| message.clone())
    }

    /// Records an error; only the first error of a field is kept.
    pub fn add_error(&mut self, name: &str, message: impl Into<String>) {
        if self.error(name).is_none() {
            self.errors.push((name.into(), message.into()));
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn errors(&self) -> &[(String, String)] {
        &self.errors
    }
}

/// "There is a problem" with a link to each field in error.
pub fn error_summary(form: &Form) -> Option<AnyView> {
    if !form.has_errors() {
        return None;
    }
    let items = form
        .errors()
        .iter()
        .map(
            |(field, message)| view! { <li><a href=format!("#{field}")>{message.clone()}</a></li> },
        )
        .collect_view();
    Some(
        view! {
            <div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1">
                <h2 id="error-summary-title">"There is a problem"</h2>
                <ul>{items}</ul>
            </div>
        }
        .into_any(),
    )
}

/// A labelled input with its hint and error message wired up for screen readers.
#[derive(Clone, Copy)]
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub hint: Option<&'static str>,
}

impl Input {
    pub fn text(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            kind: "text",
            autocomplete: "off",
            hint: None,
        }
    }
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }
    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn render(self, form: &Form) -> AnyView {
        let error = form.error(self.name);
        // Passwords and codes are never sent back to the browser.
        let value = match self.kind {
            "password" => String::new(),
            "date" => crate::platform::time::date_input_value(&form.value(self.name)),
            _ => form.value(self.name),
        };
        let hint_id = format!("{}-hint", self.name);
        let error_id = format!("{}-error", self.name);
        let described = [
            self.hint.map(|_| hint_id.clone()),
            error.as_ref().map(|_| error_id.clone()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let described = (!described.is_empty()).then_some(described);
        let class = if error.is_some() {
            "field field-error"
        } else {
            "field"
        };
        let invalid = error.is_some().then_some("true");
        view! {
            <div class=class>
                <label for=self.name>{self.label}</label>
                {self.hint.map(|hint| view! { <p class="hint" id=hint_id.clone()>{hint}</p> })}
                {error.map(|message| view! { <p class="error-message" id=error_id.clone()><span class="visually-hidden">"Error: "</span>{message}</p> })}
                <input
                    id=self.name
                    name=self.name
                    type=self.kind
                    value=value
                    autocomplete=self.autocomplete
                    aria-describedby=described
                    aria-invalid=invalid
                />
            </div>
        }
        .into_any()
    }
}

/// The class of a field's wrapper: marked when the field has an error.
pub fn field_class(error: &Option<String>) -> &'static str {
    if error.is_some() {
        "field field-error"
    } else {
        "field"
    }
}

/// A field's error message, with the id its input's `aria-describedby` names.
pub fn error_line(error: &Option<String>, id: String) -> Option<AnyView> {
    error.clone().map(|message| {
        view! { <p class="error-message" id=id><span class="visually-hidden">"Error: "</span>{message}</p> }
            .into_any()
    })
}

/// The form's error for field `name`, as [`error_line`] with the id `<name>-error`.
pub fn field_error(form: &Form, name: &str) -> Option<AnyView> {
    error_line(&form.error(name), format!("{name}-error"))
}

/// A labelled `<select>`.
pub fn select(
    form: &Form,
    name: &'static str,
    label: &'static str,
    options: &[(&'static str, &'static str)],
) -> AnyView {
    let current = form.value(name);
    let error = form.error(name);
    let error_id = format!("{name}-error");
    let options = options
        .iter()
        .map(|(value, text)| {
            let selected = current == *value;
            view! { <option value=*value selected=selected>{*text}</option> }
        })
        .collect_view();
    let class = if error.is_some() {
        "field field-error"
    } else {
        "field"
    };
    let described = error.as_ref().map(|_| error_id.clone());
    view! {
        <div class=class>
            <label for=name>{label}</label>
            {error.map(|message| view! { <p class="error-message" id=error_id.clone()><span class="visually-hidden">"Error: "</span>{message}</p> })}
            <select id=name name=name aria-describedby=described>{options}</select>
        </div>
    }
    .into_any()
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(token: &str) -> AnyView {
    view! { <input type="hidden" name="csrf_token" value=token.to_string()/> }.into_any()
}

/// A one-button form (sign out, remove, disable …).
pub fn action_button(
    csrf: &str,
    action: String,
    label: &'static str,
    class: &'static str,
) -> AnyView {
    view! {
        <form method="post" action=action class="inline">
            {csrf_field(csrf)}
            <button type="submit" class=class>{label}</button>
        </form>
    }
    .into_any()
}

/// A `<textarea>`: the one way pages write one.
///
/// Leptos 0.8 writes a `<textarea>`'s children raw, as it does for `<script>` and
/// `<style>` (leptos-rs/leptos#4730, reverted in #4819), so a value containing
/// `</textarea>` would break out of the field. Here the value is HTML-escaped and set
/// as the element's inner HTML, which Leptos always writes as given: the result is
/// escaped exactly once, whichever way Leptos treats text children.
pub struct TextArea {
    id: String,
    rows: u32,
    described_by: Option<String>,
    invalid: bool,
    class: Option<&'static str>,
}

impl TextArea {
    /// A field whose `id` and `name` are `name`.
    pub fn new(name: impl Into<String>, rows: u32) -> Self {
        Self {
            id: name.into(),
            rows,
            described_by: None,
            invalid: false,
            class: None,
        }
    }

    pub fn described_by(mut self, ids: Option<String>) -> Self {
        self.described_by = ids;
        self
    }

    pub fn invalid(mut self, invalid: bool) -> Self {
        self.invalid = invalid;
        self
    }

    pub fn class(mut self, class: &'static str) -> Self {
        self.class = Some(class);
        self
    }

    pub fn render(self, value: impl AsRef<str>) -> AnyView {
        let escaped = escape_html(value.as_ref());
        view! {
            <textarea
                id=self.id.clone()
                name=self.id
                rows=self.rows.to_string()
                class=self.class
                aria-describedby=self.described_by
                aria-invalid=self.invalid.then_some("true")
                inner_html=escaped
            ></textarea>
        }
        .into_any()
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod textarea_tests {
    use super::*;

    #[test]
    fn a_textarea_value_cannot_close_the_element() {
        let html = TextArea::new("purpose", 4)
            .render("</textarea><form action=//evil.example><button>x</button></form>&amp;")
            .to_html();
        assert_eq!(html.matches("</textarea>").count(), 1, "{html}");
        assert!(html.contains("&lt;/textarea&gt;&lt;form"), "{html}");
        assert!(html.contains("&amp;amp;"), "escaped once: {html}");
        assert!(!html.contains("<form"), "{html}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod chrome_tests {
    use super::*;

    fn reviewer() -> Chrome {
        Chrome {
            viewer: Some(Viewer {
                name: "R".into(),
                email: "r@bank.example".into(),
                role: Role::Reviewer,
                org_name: None,
                verified: true,
            }),
            ..Chrome::default()
        }
    }

    #[test]
    fn the_navigation_is_grouped_and_marks_the_page_it_is_under() {
        let groups = nav_groups(&reviewer());
        let names: Vec<&str> = groups.iter().map(|g| g.0).collect();
        assert_eq!(
            names,
            ["", "Partners", "Governance", "Oversight", "Account"]
        );
        assert_eq!(
            current_link(&groups, "/review/production/par_1"),
            Some("/review/production")
        );
        assert_eq!(current_link(&groups, "/review/app_1"), Some("/review"));
        assert_eq!(
            current_link(&groups, "/reviews/bank"),
            Some("/reviews/bank")
        );
        assert_eq!(current_link(&groups, "/reviewsX"), None);
        let mut chrome = reviewer();
        chrome.path = "/review/production/par_1".into();
        let html = render_page(&chrome, "Request", view! { <p>"x"</p> }.into_any());
        assert_eq!(html.matches("aria-current").count(), 1, "{html}");
        assert!(
            html.contains("<a href=\"/review/production\" aria-current=\"true\">"),
            "{html}"
        );
        chrome.path = "/review/production".into();
        let html = render_page(&chrome, "Requests", view! { <p>"x"</p> }.into_any());
        assert!(
            html.contains("<a href=\"/review/production\" aria-current=\"page\">"),
            "{html}"
        );
    }

    #[test]
    fn every_table_scrolls_in_its_own_named_region() {
        let html = wrap_tables(
            "<h2>Open <em>alerts</em></h2><table id=\"a\"><tr><td>1</td></tr></table>\
             <table><caption>Calls \"per\" scope</caption><tr><td>2</td></tr></table>\
             <h2>Open alerts</h2><table><tr><td>3</td></tr></table>",
        );
        assert_eq!(
            html.matches("<div class=\"table-wrap\" role=\"region\" tabindex=\"0\"")
                .count(),
            3
        );
        assert!(
            html.contains("aria-label=\"Open alerts\"><table id=\"a\">"),
            "{html}"
        );
        assert!(
            html.contains("aria-label=\"Calls &quot;per&quot; scope\">"),
            "{html}"
        );
        assert!(html.contains("aria-label=\"Open alerts (2)\">"), "{html}");
        assert_eq!(html.matches("</table></div>").count(), 3);
        assert_eq!(wrap_tables("<p>no table</p>"), "<p>no table</p>");
    }
}
