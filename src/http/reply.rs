//! What a handler returns: status, body and headers, independent of
//! tiny_http (converted in `mod.rs`).

use super::error::ApiError;
use serde_json::Value;
use std::borrow::Cow;

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Cow<'static, [u8]>,
    pub headers: Vec<(&'static str, String)>,
}

/// Pages may load only our own scripts, styles and images, and never be framed.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The same, plus what Google's sign-in button needs (Google's published
/// list), for pages that show it when Google sign-in is configured.
const PAGE_CSP_WITH_GOOGLE: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; script-src 'self' https://accounts.google.com/gsi/client; frame-src https://accounts.google.com/gsi/; connect-src 'self' https://accounts.google.com/gsi/; style-src 'self' https://accounts.google.com/gsi/style";

impl Reply {
    pub fn json(status: u16, value: Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: Cow::Owned(value.to_string().into_bytes()),
            headers: vec![("Cache-Control", "no-store".into())],
        }
    }

    pub fn ok(value: Value) -> Reply {
        Reply::json(200, value)
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            content_type: "application/json",
            body: Cow::Borrowed(b""),
            headers: Vec::new(),
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            body: Cow::Borrowed(b""),
            headers: vec![("Location", location.to_owned())],
        }
    }

    /// An HTML page, with the headers that keep it self-contained.
    pub fn page(body: Cow<'static, [u8]>) -> Reply {
        Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
            headers: vec![
                ("Content-Security-Policy", PAGE_CSP.into()),
                ("X-Frame-Options", "DENY".into()),
                ("Cache-Control", "no-store".into()),
            ],
        }
    }

    /// Lets a page load Google's sign-in button (see `PAGE_CSP_WITH_GOOGLE`).
    pub fn allowing_google_signin(mut self) -> Reply {
        for (name, value) in &mut self.headers {
            if *name == "Content-Security-Policy" {
                *value = PAGE_CSP_WITH_GOOGLE.into();
            }
        }
        self
    }

    pub fn asset(body: &'static [u8], content_type: &'static str) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: Cow::Borrowed(body),
            headers: vec![("Cache-Control", "public, max-age=300".into())],
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        let mut reply = Reply {
            status: e.status,
            content_type: "application/json",
            body: Cow::Owned(e.body().into_bytes()),
            headers: vec![("Cache-Control", "no-store".into())],
        };
        if let Some(secs) = e.retry_after {
            reply.headers.push(("Retry-After", secs.to_string()));
        }
        reply
    }
}
