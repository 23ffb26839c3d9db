//! A complete module in ~100 lines: it serves its own small web page, joins
//! the platform over the signed WebSocket, and greets the logged-in user by
//! name. Browsers send the platform's `access_token` cookie to every port of
//! the same host; the module checks its signature with the shared
//! `cookie_secret` and asks the platform who the token belongs to.
//!
//! ```text
//! sse-platform keygen --name hello --out .     # then add the printed line
//!                                              # to the platform's verify_keys.json
//! cargo run --example hello_module -- --platform wss://localhost:8888/websocket \
//!     --key signing_key.key --ca cert.pem --cookie-secret "$SECRET" --port 8010
//! ```
//!
//! It prints `hello_module listening on http://127.0.0.1:PORT` when ready.

use sse_platform::auth::cookie::CookieSigner;
use sse_platform::module_client::{ModuleClient, Options};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Args {
    platform: String,
    name: String,
    key: String,
    ca: Option<String>,
    cookie_secret: String,
    port: u16,
}

fn parse_args() -> Result<Args, pico_args::Error> {
    let mut p = pico_args::Arguments::from_env();
    Ok(Args {
        platform: p.value_from_str("--platform")?,
        name: p
            .opt_value_from_str("--name")?
            .unwrap_or_else(|| "hello".into()),
        key: p.value_from_str("--key")?,
        ca: p.opt_value_from_str("--ca")?,
        cookie_secret: p.value_from_str("--cookie-secret")?,
        port: p.opt_value_from_str("--port")?.unwrap_or(0),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    sse_platform::logger::init();
    let args = parse_args()?;
    let server = tiny_http::Server::http(("127.0.0.1", args.port))?;
    let port = server.server_addr().to_ip().map_or(args.port, |a| a.port());
    let client = ModuleClient::connect(Options {
        url: args.platform.clone(),
        module: args.name.clone(),
        signing_key: std::fs::read_to_string(&args.key)?,
        port,
        public_url: None,
        ca_pem: args.ca.as_ref().map(std::fs::read).transpose()?,
        timeout: Duration::from_secs(5),
        revalidate_after: Options::REVALIDATE_AFTER,
    })?;
    println!("hello_module listening on http://127.0.0.1:{port}");
    let cookies = CookieSigner::new(&args.cookie_secret);
    loop {
        // recv(), not incoming_requests(): that iterator ends silently on
        // the first accept error.
        let request = match server.recv() {
            Ok(request) => request,
            Err(e) => {
                eprintln!("hello_module: {e}");
                continue;
            }
        };
        let (status, text) = greet(&client, &cookies, &request);
        let response = tiny_http::Response::from_string(text).with_status_code(status);
        let _ = request.respond(response);
    }
}

/// "Hello, <name>!" for a logged-in user, 401 otherwise.
fn greet(
    client: &ModuleClient,
    cookies: &CookieSigner,
    request: &tiny_http::Request,
) -> (u16, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let token = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Cookie"))
        .flat_map(|h| h.value.as_str().split(';'))
        .filter_map(|c| c.trim().strip_prefix("access_token="))
        .find_map(|value| cookies.verify("access_token", value, now));
    let Some(token) = token else {
        return (401, "Please log in at the platform first.".into());
    };
    match client.validate_token(&token) {
        Ok(Some(user)) => (200, format!("Hello, {}!", user.username)),
        Ok(None) => (401, "Your session has ended; please log in again.".into()),
        Err(e) => (503, format!("The platform cannot be reached: {e}")),
    }
}
