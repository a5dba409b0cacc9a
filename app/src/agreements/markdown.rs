//! An agreement's text, CommonMark, as HTML that stays inert: raw HTML in the text is
//! shown as text, links keep only `https:`, `http:` and `mailto:` addresses (any other
//! is shown as its text alone), and images become their description (a page never
//! loads anything an agreement names).

use pulldown_cmark::{html, Event, LinkType, Options, Parser, Tag, TagEnd};

fn safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["https://", "http://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// The HTML of `text`.
pub fn to_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // Which links were dropped, so their closing tags go too.
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(text, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            // An e-mail autolink (`<name@example.com>`) is written out as `mailto:`.
            let keep = link_type == LinkType::Email || safe_link(&dest_url);
            dropped.push(!keep);
            keep.then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => match dropped.pop() {
            Some(true) => None,
            _ => Some(Event::End(TagEnd::Link)),
        },
        // An image is its description, as text.
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        other => Some(other),
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markup_is_rendered_and_html_stays_text() {
        let html = to_html("# Terms\n\nThe **partner** shall <script>alert(1)</script> comply.\n\n<img src=x onerror=alert(1)>\n");
        assert!(html.contains("<h1>Terms</h1>"), "{html}");
        assert!(html.contains("<strong>partner</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn only_web_and_mail_links_are_links() {
        let html = to_html("[terms](https://bank.example/terms) [x](javascript:alert(1)) [y](data:text/html,hi) ![logo](https://cdn.example/logo.png)");
        assert!(
            html.contains("<a href=\"https://bank.example/terms\">terms</a>"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("logo"), "{html}");
    }
}
