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
}
