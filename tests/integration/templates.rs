//! Templates, as the 2021-11 original had them: `post_template` and
//! `get_template` over the hub, `GET /template` for logged-in users, kept in
//! PostgreSQL, each owned by the module that first stored it.

use crate::common;

use common::hub::*;
use serde_json::{json, Value};
use sse_platform::module_client::{uuid4, Connection, Signer};

const PAGE: &str = "<html><body><h1 class=\"title\">Hello {{ name }}</h1>\n</body></html>";

/// A signed connection of `module`, registered with `module_start`.
fn module(server: &common::Server, module: &str) -> (Connection, Signer) {
    let mut conn = raw(server, module);
    assert_eq!(start_module(&mut conn, module, 8001)["success"], true);
    (conn, signer(module))
}

fn post(conn: &mut Connection, s: &Signer, name: &str, body: &str) -> Value {
    signed(
        conn,
        s,
        json!({"type": "post_template", "template_name": name, "template": body}),
    )
}

fn get(conn: &mut Connection, s: &Signer, name: &str) -> Value {
    signed(
        conn,
        s,
        json!({"type": "get_template", "template_name": name}),
    )
}

/// The reply without its `resolve_id` (which `signed` has matched), for
/// comparing whole shapes.
fn without_id(mut v: Value) -> Value {
    let id = v
        .as_object_mut()
        .and_then(|o| o.remove("resolve_id"))
        .unwrap_or(Value::Null);
    assert!(id.is_string(), "every reply carries its resolve_id");
    v
}

#[test]
fn post_template_answers_exactly_as_the_original_and_get_template_reads_it_back() {
    let mut server = hub(json!({}));
    let (mut conn, s) = module(&server, "ListServ");
    let id = uuid4();
    let Value::Object(inner) =
        json!({"type": "post_template", "template_name": "greeting.html", "template": PAGE})
    else {
        unreachable!()
    };
    let reply = exchange(&mut conn, s.envelope(inner, &id), Some(&id));
    assert_eq!(
        reply,
        json!({"type": "get_template_response", "success": true, "resolve_id": id}),
        "the original's exact shape"
    );
    let v = get(&mut conn, &s, "greeting.html");
    assert_eq!(
        without_id(v),
        json!({"type": "get_template_response", "success": true, "template": PAGE})
    );
    // Any module may read it, and it outlives a restart.
    server.restart();
    let (mut other, o) = module(&server, "SocialServ");
    assert_eq!(get(&mut other, &o, "greeting.html")["template"], PAGE);
}

#[test]
fn a_module_overwrites_its_own_template_and_never_anothers() {
    let server = hub(json!({}));
    let (mut owner, s) = module(&server, "ListServ");
    let (mut other, o) = module(&server, "SocialServ");
    assert_eq!(post(&mut owner, &s, "page", "first")["success"], true);
    assert_eq!(post(&mut owner, &s, "page", "second")["success"], true);
    assert_eq!(get(&mut other, &o, "page")["template"], "second");
    let v = post(&mut other, &o, "page", "hijacked");
    assert_eq!(
        without_id(v),
        json!({"type": "get_template_response", "success": false,
               "reason": "template_owned_by_another_module"})
    );
    assert_eq!(get(&mut owner, &s, "page")["template"], "second");
    // The other module keeps names of its own.
    assert_eq!(post(&mut other, &o, "Page", "its own")["success"], true);
    assert_eq!(get(&mut owner, &s, "Page")["template"], "its own");
    // The empty template is a template.
    assert_eq!(post(&mut owner, &s, "empty", "")["success"], true);
    assert_eq!(get(&mut other, &o, "empty")["template"], "");
}

#[test]
fn an_unknown_template_is_template_not_found() {
    let server = hub(json!({}));
    let (mut conn, s) = module(&server, "ListServ");
    let v = get(&mut conn, &s, "nowhere.html");
    assert_eq!(
        without_id(v),
        json!({"type": "get_template_response", "success": false, "reason": "template_not_found"})
    );
}

#[test]
fn names_fields_sizes_and_counts_are_checked() {
    let server = hub(json!({"template_max_bytes": 2048, "template_max_per_module": 3}));
    let (mut conn, s) = module(&server, "ListServ");
    let long = "n".repeat(101);
    for bad in [
        "",
        long.as_str(),
        "a/b",
        "../etc",
        "caf\u{e9}",
        "a b",
        "a\0b",
        "x;y",
    ] {
        for v in [post(&mut conn, &s, bad, "x"), get(&mut conn, &s, bad)] {
            assert_eq!(v["type"], "get_template_response", "{bad:?}: {v}");
            assert_eq!(v["success"], false, "{bad:?}: {v}");
            assert_eq!(v["reason"], "invalid_template_name", "{bad:?}: {v}");
        }
    }
    assert_eq!(post(&mut conn, &s, &"n".repeat(100), "x")["success"], true);
    for (message, key) in [
        (
            json!({"type": "post_template", "template": "x"}),
            "template_name",
        ),
        (
            json!({"type": "post_template", "template_name": "a"}),
            "template",
        ),
        (
            json!({"type": "post_template", "template_name": "a", "template": 5}),
            "template",
        ),
        (json!({"type": "get_template"}), "template_name"),
        (
            json!({"type": "get_template", "template_name": ["a"]}),
            "template_name",
        ),
    ] {
        let v = signed(&mut conn, &s, message);
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["reason"], "message_format_error", "{v}");
        assert!(
            v["description"].as_str().unwrap_or_default().contains(key),
            "{v}"
        );
    }
    let v = post(&mut conn, &s, "nul", "<p>\0</p>");
    assert_eq!(
        v["reason"], "invalid_template",
        "text PostgreSQL can store: {v}"
    );
    let v = post(&mut conn, &s, "big", &"b".repeat(2049));
    assert_eq!(
        (v["reason"].clone(), v["max_bytes"].clone()),
        (json!("template_too_large"), json!(2048)),
        "{v}"
    );
    assert_eq!(get(&mut conn, &s, "big")["reason"], "template_not_found");
    // A limit in bytes, not characters: 1024 two-byte characters fit.
    assert_eq!(
        post(&mut conn, &s, "big", &"\u{e9}".repeat(1024))["success"],
        true
    );
    // Three templates each: "nnn…", "big", and one more.
    assert_eq!(post(&mut conn, &s, "third", "3")["success"], true);
    let v = post(&mut conn, &s, "fourth", "4");
    assert_eq!(
        (v["reason"].clone(), v["max_templates"].clone()),
        (json!("too_many_templates"), json!(3)),
        "{v}"
    );
    assert_eq!(post(&mut conn, &s, "third", "overwritten")["success"], true);
    let (mut other, o) = module(&server, "SocialServ");
    assert_eq!(
        post(&mut other, &o, "fourth", "4")["success"],
        true,
        "per module"
    );
    // Still open and answering after every refusal.
    assert_eq!(get(&mut conn, &s, "third")["template"], "overwritten");
}

/// A template's message must fit a hub frame too: with the default 64 KiB
/// frame a 256 KiB template is refused as a message, and the connection
/// lives; with `hub_max_frame_bytes` raised (README), it is stored whole.
#[test]
fn a_template_must_fit_the_frame_limit_as_well() {
    let body = "<p>".repeat(256 * 1024 / 3);
    let server = hub(json!({}));
    let (mut conn, s) = module(&server, "ListServ");
    let v = post(&mut conn, &s, "huge", &body);
    assert_eq!(v["type"], "message_format_error", "{v}");
    assert_eq!(get(&mut conn, &s, "huge")["reason"], "template_not_found");
    drop(conn);
    let server = hub(json!({"hub_max_frame_bytes": 512 * 1024}));
    let (mut conn, s) = module(&server, "ListServ");
    assert_eq!(post(&mut conn, &s, "huge", &body)["success"], true);
    assert_eq!(get(&mut conn, &s, "huge")["template"], body.as_str());
    let admin = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let page = server.client().token(&admin).get("/template?template=huge");
    assert_eq!(page.ok_json()["template"], body.as_str());
}

#[test]
fn get_template_over_http_needs_a_session() {
    let server = hub(json!({}));
    let (mut conn, s) = module(&server, "ListServ");
    assert_eq!(post(&mut conn, &s, "greeting.html", PAGE)["success"], true);
    let web = server.client();
    let path = "/template?template=greeting.html";
    web.get(path).assert_error(401, "no_token");
    web.token("not-a-token")
        .get(path)
        .assert_error(401, "no_token");
    let token = web.register("dave", "dave-password");
    let me = web.token(&token);
    assert_eq!(me.get(path).ok_json(), json!({"template": PAGE}));
    me.get("/template?template=nowhere")
        .assert_error(404, "template_not_found");
    me.get("/template")
        .assert_error(400, "missing_query_parameter");
    me.get("/template?template=..%2Fetc")
        .assert_error(400, "invalid_template_name");
    me.get(&format!("/template?template={}", "n".repeat(101)))
        .assert_error(400, "invalid_template_name");
    // The browser's way: the signed cookie.
    let browser = web.with_jar();
    browser.login("dave", "dave-password");
    assert_eq!(browser.get(path).ok_json()["template"], PAGE);
    // A logged-out session reads nothing.
    assert_eq!(me.post("/logout").status, 200);
    me.get(path).assert_error(401, "no_token");
}
