//! An HTTP client for the server under test (ureq), and responses.

use super::form;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An HTTP response: status, headers (names lower-case) and body text.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// The body as JSON; panics (showing the body) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in seconds; panics if absent or not a number.
    pub fn retry_after(&self) -> u64 {
        let value = self.header("retry-after").expect("Retry-After");
        value
            .parse()
            .unwrap_or_else(|_| panic!("Retry-After is not seconds: {value}"))
    }

    /// The `Set-Cookie` header for `access_token`, whole.
    pub fn set_cookie(&self) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with("access_token="))
    }

    /// The value `access_token` is set to (empty when cleared).
    pub fn cookie_value(&self) -> Option<String> {
        let header = self.set_cookie()?;
        let first = header.split(';').next()?;
        Some(first.trim_start_matches("access_token=").to_owned())
    }

    /// Asserts the protocol's JSON error shape with this status and reason.
    #[track_caller]
    pub fn assert_error(&self, status: u16, reason: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.body);
        let v = self.json();
        assert_eq!(v["status"], status, "{v}");
        assert_eq!(v["reason"], reason, "{v}");
        assert!(v["redirect_suggestions"].is_array(), "{v}");
    }

    /// Asserts status 200 and returns the JSON body.
    #[track_caller]
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        self.json()
    }
}

#[derive(Clone, Debug)]
enum Credentials {
    None,
    /// `Authorization: <value>` (bare token, or `Bearer <token>`).
    Header(String),
    /// `Cookie: access_token=<value>`.
    Cookie(String),
}

/// A ureq agent bound to one server: trusts the test certificate, follows
/// no redirects, returns 4xx/5xx as responses and opens a new connection per
/// request (raw tests cover keep-alive). Cheap to clone; the builder-style
/// methods return a copy with other credentials.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    credentials: Credentials,
    headers: Vec<(String, String)>,
    /// With [`Client::with_jar`]: the `access_token` cookie, kept from
    /// `Set-Cookie` and sent back, as a browser would.
    jar: Option<Arc<Mutex<Option<String>>>>,
}

impl Client {
    /// A client for `base` (`https://127.0.0.1:PORT`); `cert_pem` is the one
    /// certificate it trusts (`None` for plain HTTP).
    pub fn new(base: &str, cert_pem: Option<&str>) -> Client {
        let mut config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(Duration::from_secs(30)));
        if let Some(pem) = cert_pem {
            let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).expect("test cert PEM");
            let roots = ureq::tls::RootCerts::Specific(Arc::new(vec![cert]));
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Client {
            agent: config.build().into(),
            base: base.trim_end_matches('/').to_owned(),
            credentials: Credentials::None,
            headers: Vec::new(),
            jar: None,
        }
    }

    /// Sends `token` as the whole `Authorization` header, as the original did.
    pub fn token(&self, token: &str) -> Client {
        self.with(Credentials::Header(token.to_owned()))
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer(&self, token: &str) -> Client {
        self.with(Credentials::Header(format!("Bearer {token}")))
    }

    /// Sends `Cookie: access_token=<value>` (a signed cookie value).
    pub fn cookie(&self, value: &str) -> Client {
        self.with(Credentials::Cookie(value.to_owned()))
    }

    /// Adds a header to every request.
    pub fn header(&self, name: &str, value: &str) -> Client {
        let mut c = self.clone();
        c.headers.push((name.to_owned(), value.to_owned()));
        c
    }

    /// Keeps the `access_token` cookie the server sets and sends it back.
    pub fn with_jar(&self) -> Client {
        let mut c = self.with(Credentials::None);
        c.jar = Some(Arc::new(Mutex::new(None)));
        c
    }

    /// The cookie in the jar, if any.
    pub fn jar_cookie(&self) -> Option<String> {
        self.jar.as_ref().and_then(|j| j.lock().ok()?.clone())
    }

    fn with(&self, credentials: Credentials) -> Client {
        Client {
            credentials,
            jar: None,
            ..self.clone()
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None, Vec::new())
    }

    /// POST without a body (parameters, if any, in `path`'s query string).
    pub fn post(&self, path: &str) -> Resp {
        self.request("POST", path, None, Vec::new())
    }

    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let body = form(pairs).into_bytes();
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            body,
        )
    }

    pub fn post_json(&self, path: &str, value: &Value) -> Resp {
        let body = value.to_string().into_bytes();
        self.request("POST", path, Some("application/json"), body)
    }

    pub fn delete_form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let body = form(pairs).into_bytes();
        let form_type = Some("application/x-www-form-urlencoded");
        self.request("DELETE", path, form_type, body)
    }

    /// Any request; `GET` and `HEAD` without a body send no body at all.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let url = format!("{}{path}", self.base);
        let mut rq = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(ct) = content_type {
            rq = rq.header("Content-Type", ct);
        }
        for (k, v) in &self.headers {
            rq = rq.header(k.as_str(), v.as_str());
        }
        let cookie = match &self.credentials {
            Credentials::Header(v) => {
                rq = rq.header("Authorization", v.as_str());
                None
            }
            Credentials::Cookie(v) => Some(v.clone()),
            Credentials::None => self.jar_cookie(),
        };
        if let Some(v) = cookie {
            rq = rq.header("Cookie", format!("access_token={v}"));
        }
        // ureq sends a body-less POST as chunked, which the platform refuses
        // (411); an empty body goes out as `Content-Length: 0` instead.
        let result = if body.is_empty() && matches!(method, "GET" | "HEAD") {
            self.agent.run(rq.body(()).expect("request"))
        } else {
            self.agent.run(rq.body(body).expect("request"))
        };
        let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
        let resp = Resp {
            status: response.status().as_u16(),
            headers,
            body,
        };
        if let (Some(jar), Some(value)) = (&self.jar, resp.cookie_value()) {
            let mut jar = jar.lock().unwrap_or_else(|e| e.into_inner());
            *jar = (!value.is_empty()).then_some(value);
        }
        resp
    }

    /// The registration form (`POST /register`), answered as it is.
    pub fn register_form(&self, email: &str, nickname: &str, password: &str) -> Resp {
        self.post_form(
            "/register",
            &[
                ("email", email),
                ("nickname", nickname),
                ("password", password),
            ],
        )
    }

    /// Registers `nickname` (email `<nickname>@example.org`); returns the
    /// access token. Panics unless the server answers 200.
    pub fn register(&self, nickname: &str, password: &str) -> String {
        let email = format!("{nickname}@example.org");
        token_of(&self.register_form(&email, nickname, password))
    }

    /// Logs in by nickname; returns the access token (panics unless 200).
    pub fn login(&self, nickname: &str, password: &str) -> String {
        let r = self.post_form("/login", &[("nickname", nickname), ("password", password)]);
        token_of(&r)
    }
}

#[track_caller]
fn token_of(r: &Resp) -> String {
    let v = r.ok_json();
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {v}"))
        .to_owned()
}
