//! The risk policy as people read it: its factors (points, when they apply, what
//! to do about them), its blockers, its bands and its routes, read from the active
//! Rego source itself, so the table never drifts from what decides. Partners see it
//! at `/production/policy` (the home page promises a published policy); reviewers
//! see it above the source at `/review/policy`.
//!
//! It reads the shapes Gatehouse's policies use: `factors contains {…} if …`,
//! `blockers contains {…} if …`, and `band :=`/`route :=` chains of `else :=`. A
//! replaced policy written in other shapes shows what could be read, and the source
//! is always beside it.

use leptos::prelude::*;

/// One `factors`/`blockers` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub factor: String,
    pub points: i64,
    /// The partner's hint: what to do about it.
    pub hint: String,
    /// The reviewers' detail (a `sprintf` template shows its blanks as "…").
    pub detail: String,
    /// The Rego condition, as written (conditions joined by "and").
    pub when: String,
}

/// The rules, bands and routes of a policy source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub factors: Vec<Rule>,
    pub blockers: Vec<Rule>,
    /// (value, when), first match wins; the last may be "otherwise".
    pub bands: Vec<(String, String)>,
    pub routes: Vec<(String, String)>,
}

/// Reads `source`.
pub fn read(source: &str) -> Table {
    // Comment lines out first: a quote or a brace in a comment is not code.
    let source: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let source = source.as_str();
    Table {
        factors: rules(source, "factors contains {"),
        blockers: rules(source, "blockers contains {"),
        bands: chain(source, "band"),
        routes: chain(source, "route"),
    }
}

/// The end of the bracketed text opening at `open` (a `{`), skipping strings.
fn closing(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' | '(' if !in_string => depth += 1,
            '}' | ']' | ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first string literal after `"key":` in `object`, or its `sprintf` template.
fn string_member(object: &str, key: &str) -> String {
    let Some(at) = object.find(&format!("\"{key}\":")) else {
        return String::new();
    };
    let rest = object[at + key.len() + 3..].trim_start();
    let rest = rest.strip_prefix("sprintf(").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix('"') else {
        return String::new();
    };
    let mut out = String::new();
    let mut escaped = false;
    for c in rest.chars() {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => break,
            c => out.push(c),
        }
    }
    out.replace("%d", "…").replace("%s", "…").replace("%v", "…")
}

fn rules(source: &str, opening: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = source[from..].find(opening) {
        let open = from + found + opening.len() - 1;
        let Some(close) = closing(source, open) else {
            break;
        };
        let object = &source[open..=close];
        let after = source[close + 1..].trim_start();
        let when = match after.strip_prefix("if") {
            Some(rest) => {
                let rest = rest.trim_start();
                if rest.starts_with('{') {
                    let start = close + 1 + (source[close + 1..].len() - rest.len());
                    let end = closing(source, start).unwrap_or(source.len());
                    source
                        .get(start + 1..end)
                        .unwrap_or_default()
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .collect::<Vec<_>>()
                        .join(" and ")
                } else {
                    rest.lines().next().unwrap_or_default().trim().to_string()
                }
            }
            None => "always".into(),
        };
        let points = object
            .find("\"points\":")
            .map(|at| {
                object[at + 9..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.push(Rule {
            factor: string_member(object, "factor"),
            points,
            hint: string_member(object, "hint"),
            detail: string_member(object, "detail"),
            when,
        });
        from = close + 1;
    }
    out
}

/// `name := "a" if c1` then `else := "b" if c2` … `else := "z"`.
fn chain(source: &str, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = source.lines().map(str::trim);
    let head = format!("{name} := \"");
    let Some(first) = lines.by_ref().find(|l| l.starts_with(&head)) else {
        return out;
    };
    let mut link = |line: &str, prefix: &str| -> bool {
        let Some(rest) = line.strip_prefix(prefix) else {
            return false;
        };
        let (value, condition) = match rest.split_once('"') {
            Some((value, tail)) => (value.to_string(), tail.trim()),
            None => return false,
        };
        let when = condition
            .strip_prefix("if")
            .map(|c| c.trim().to_string())
            .unwrap_or_else(|| "otherwise".into());
        out.push((value, when));
        true
    };
    link(first, &head);
    for line in lines {
        if !link(line, "else := \"") {
            break;
        }
    }
    out
}

fn route_label(route: &str) -> String {
    match route {
        "auto_approve" => "Approved automatically".into(),
        "one_reviewer" => "One reviewer".into(),
        "four_eyes" => "Two reviewers (four eyes)".into(),
        "auto_reject" => "Refused automatically".into(),
        other => other.replace('_', " "),
    }
}

/// The tables, for partners and reviewers alike.
pub fn view(table: &Table) -> AnyView {
    let factor_rows = table
        .factors
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <td>{r.factor.replace('_', " ")}</td>
                    <td class="num">{r.points.to_string()}</td>
                    <td>{r.detail.clone()}<br/><small><code>{r.when.clone()}</code></small></td>
                    <td>{r.hint.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let blocker_rows = table
        .blockers
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <td>{r.factor.replace('_', " ")}</td>
                    <td>{r.detail.clone()}<br/><small><code>{r.when.clone()}</code></small></td>
                    <td>{r.hint.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let chain_rows = |list: &[(String, String)], label: fn(&str) -> String| {
        list.iter()
            .map(|(value, when)| view! { <tr><td>{label(value)}</td><td><code>{when.clone()}</code></td></tr> })
            .collect_view()
    };
    view! {
        <h2 id="policy-factors">"Risk factors"</h2>
        <p>"Each factor that applies adds its points to the request's score."</p>
        <table id="policy-factor-table">
            <caption class="visually-hidden">"Risk factors and their points"</caption>
            <thead><tr><th scope="col">"Factor"</th><th scope="col" class="num">"Points"</th><th scope="col">"When it applies"</th><th scope="col">"What you can do"</th></tr></thead>
            <tbody>{factor_rows}</tbody>
        </table>
        <h2 id="policy-blockers">"Blockers"</h2>
        <p>"Any blocker refuses the request automatically, whatever the score."</p>
        <table id="policy-blocker-table">
            <caption class="visually-hidden">"Blockers"</caption>
            <thead><tr><th scope="col">"Factor"</th><th scope="col">"When it applies"</th><th scope="col">"What you can do"</th></tr></thead>
            <tbody>{blocker_rows}</tbody>
        </table>
        <h2 id="policy-bands">"Bands"</h2>
        <table id="policy-band-table">
            <caption class="visually-hidden">"Risk bands, first match wins"</caption>
            <thead><tr><th scope="col">"Band"</th><th scope="col">"When (first match wins)"</th></tr></thead>
            <tbody>{chain_rows(&table.bands, |b| b.to_string())}</tbody>
        </table>
        <h2 id="policy-routes">"Routes"</h2>
        <table id="policy-route-table">
            <caption class="visually-hidden">"Routes, first match wins"</caption>
            <thead><tr><th scope="col">"Route"</th><th scope="col">"When (first match wins)"</th></tr></thead>
            <tbody>{chain_rows(&table.routes, route_label)}</tbody>
        </table>
    }
    .into_any()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_reads_as_tables() {
        let table = read(include_str!("default_policy.rego"));
        let payment = table
            .factors
            .iter()
            .find(|r| r.factor == "data_class" && r.points == 40)
            .expect("the payment factor");
        assert_eq!(payment.when, "payment");
        assert_eq!(
            payment.hint,
            "Payment initiation always needs two reviewers."
        );
        let secret = table
            .factors
            .iter()
            .find(|r| r.factor == "client_auth")
            .unwrap();
        assert_eq!(
            secret.detail,
            "The client authenticates with a shared secret (…)."
        );
        let account = table.factors.iter().find(|r| r.points == 25).unwrap();
        assert_eq!(account.when, "account_information and not payment");
        assert!(table
            .blockers
            .iter()
            .any(|r| r.factor == "history" && r.when == "input.history.previous_revocations >= 3"));
        assert_eq!(
            table.bands,
            vec![
                ("high".to_string(), "score >= 60".to_string()),
                ("medium".to_string(), "score >= 20".to_string()),
                ("low".to_string(), "otherwise".to_string()),
            ]
        );
        assert_eq!(
            table.routes.first().unwrap(),
            &("auto_reject".to_string(), "count(blockers) > 0".to_string())
        );
        assert_eq!(
            table.routes.last().unwrap(),
            &("auto_approve".to_string(), "otherwise".to_string())
        );
        assert_eq!(table.routes.len(), 7);
    }

    #[test]
    fn sources_in_other_shapes_read_without_a_panic() {
        for source in [
            "# factors contains { \" if {",
            "factors contains {",
            "factors contains {\"points\": 5} if {",
            "route := \"x",
        ] {
            let _ = read(source);
        }
        assert!(read("# only a comment {").factors.is_empty());
    }
}
