//! The web pages and their assets (HTML, CSS, JavaScript, images), embedded
//! at build time from `src/web/assets/` by build.rs.

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// An asset's bytes and content type, by its name under `assets/`.
pub fn asset(name: &str) -> Option<(&'static [u8], &'static str)> {
    let i = ASSETS.binary_search_by(|(n, _)| n.cmp(&name)).ok()?;
    ASSETS.get(i).map(|(_, body)| (*body, content_type(name)))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_are_embedded_and_names_are_exact() {
        for page in ["html/login.html", "html/main.html", "css/style.css"] {
            assert!(super::asset(page).is_some(), "{page}");
        }
        assert!(super::asset("css/../html/login.html").is_none());
        assert_eq!(
            super::asset("css/style.css").map(|a| a.1),
            Some("text/css; charset=utf-8")
        );
    }

    /// Every page closes the containers it opens, in order: a lost `</section>`
    /// (a merge did that once) nests the next panels inside a hidden one.
    #[test]
    fn pages_close_their_containers_in_order() {
        let pages = super::ASSETS.iter().filter(|(n, _)| n.ends_with(".html"));
        for (name, body) in pages {
            let text = std::str::from_utf8(body).expect("pages are UTF-8");
            let mut open: Vec<&str> = Vec::new();
            for (at, _) in text.match_indices('<') {
                let tag = &text[at + 1..];
                let (closing, tag) = match tag.strip_prefix('/') {
                    Some(rest) => (true, rest),
                    None => (false, tag),
                };
                let end = tag.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(0);
                let element = &tag[..end];
                if !CONTAINERS.contains(&element) {
                    continue;
                }
                if closing {
                    assert_eq!(
                        open.pop(),
                        Some(element),
                        "{name}: </{element}> at byte {at}"
                    );
                } else {
                    open.push(element);
                }
            }
            assert!(open.is_empty(), "{name}: {open:?} never closed");
        }
    }

    const CONTAINERS: &[&str] = &[
        "html", "head", "body", "header", "main", "nav", "section", "div", "form", "ul", "table",
        "thead", "tbody", "dialog", "p", "button", "label", "select",
    ];
}
