//! A parsed request, as handlers see it: method, path, parameters (query
//! string, form body or JSON body), headers and the client's address.

use super::error::ApiError;
use super::params::parse_urlencoded;
use crate::net::head::{PEER_HEADER, TLS_HEADER};
use serde_json::Value;
use std::io::Read;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

pub struct Req {
    pub method: Method,
    pub path: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    pub peer: Option<SocketAddr>,
    pub tls: bool,
}

impl Req {
    /// Reads a tiny_http request, its body included (the listener has
    /// already refused bodies over the limit).
    pub fn from_tiny(rq: &mut tiny_http::Request, max_body: usize) -> Result<Req, ApiError> {
        let headers: Vec<(String, String)> = rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        rq.as_reader()
            .take(max_body as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|_| ApiError::bad_request("malformed_request"))?;
        if body.len() > max_body {
            return Err(ApiError::new(413, "request_body_too_large"));
        }
        Req::from_parts(method_of(rq.method()), rq.url(), headers, &body)
    }

    /// A request from its parts as tiny_http gave them (header names in
    /// lower case): the one parser of targets, headers and bodies, apart
    /// from tiny_http so that it can be fuzzed (fuzz/entries.rs).
    pub fn from_parts(
        method: Method,
        url: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<Req, ApiError> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut req = Req {
            method,
            path: path.to_owned(),
            params: parse_urlencoded(query),
            peer: None,
            tls: false,
            headers,
        };
        req.peer = req.header(PEER_HEADER).and_then(|p| p.parse().ok());
        req.tls = req.header(TLS_HEADER) == Some("1");
        req.add_body_params(body)?;
        Ok(req)
    }

    fn add_body_params(&mut self, body: &[u8]) -> Result<(), ApiError> {
        if body.is_empty() {
            return Ok(());
        }
        let content_type = self
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            let value: Value = serde_json::from_slice(body)
                .map_err(|_| ApiError::bad_request("malformed_json"))?;
            let Value::Object(map) = value else {
                return Err(ApiError::bad_request("malformed_json"));
            };
            for (k, v) in map {
                match v {
                    Value::Null => {}
                    Value::String(s) => self.params.push((k, s)),
                    other => self.params.push((k, other.to_string())),
                }
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let text = String::from_utf8_lossy(body);
            self.params.extend(parse_urlencoded(&text));
        }
        Ok(())
    }

    /// A parameter's last value, as Tornado's `get_argument` gives it.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present and non-empty.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.param(name)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::missing_parameter())
    }

    /// A yes/no parameter (`true`, `1`, `on`, `yes`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1" | "on" | "yes"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The client's address for logs and limits ("-" when unknown).
    pub fn client(&self) -> String {
        self.peer.map_or_else(|| "-".into(), |p| p.ip().to_string())
    }
}

impl From<&tiny_http::Method> for Method {
    fn from(m: &tiny_http::Method) -> Method {
        method_of(m)
    }
}

fn method_of(m: &tiny_http::Method) -> Method {
    match m {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Head => Method::Head,
        tiny_http::Method::Post => Method::Post,
        tiny_http::Method::Put => Method::Put,
        tiny_http::Method::Delete => Method::Delete,
        _ => Method::Other,
    }
}
