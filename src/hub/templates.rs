//! `post_template` and `get_template` (the 2021-11 original's): HTML
//! templates that modules store in PostgreSQL and read back; users read
//! them with `GET /template`. A template belongs to the module that first
//! stored it.
//!
//! `post_template` is answered with type `get_template_response`, as the
//! original did (`dispatch` names the type).

use super::connection::Connection;
use super::handlers::{Fields, Request};
use crate::clock::unix_now;
use crate::db::templates::{self as sql, Stored, TemplateName};
use serde_json::json;

/// The reply type of `post_template`.
pub const POST_REPLY_TYPE: &str = "get_template_response";

/// `{template_name, template}`: stores or overwrites the module's template.
pub(super) fn post(s: &Connection, r: &Request) -> Fields {
    let name = r.str("template_name")?;
    let body = r.str("template")?;
    let Some(name) = TemplateName::parse(name) else {
        return Ok(Some(refused("invalid_template_name")));
    };
    if body.contains('\0') {
        // PostgreSQL's text cannot hold it, and no HTML needs it.
        return Ok(Some(refused("invalid_template")));
    }
    let limits = &s.ctx.config.templates;
    if body.len() > limits.max_bytes {
        return Ok(Some(json!({
            "success": false, "reason": "template_too_large", "max_bytes": limits.max_bytes,
        })));
    }
    let mut conn = s.ctx.db.conn()?;
    let stored = sql::put(
        &mut *conn,
        &name,
        r.origin,
        body,
        unix_now(),
        limits.max_per_module,
    )?;
    Ok(Some(match stored {
        Stored::Saved => {
            log::info!("module '{}' stored template {}", r.origin, name.as_str());
            json!({"success": true})
        }
        Stored::OwnedByAnother => refused("template_owned_by_another_module"),
        Stored::TooMany => json!({
            "success": false, "reason": "too_many_templates", "max_templates": limits.max_per_module,
        }),
    }))
}

/// `{template_name}`: any module may read any template.
pub(super) fn get(s: &Connection, r: &Request) -> Fields {
    let name = r.str("template_name")?;
    let Some(name) = TemplateName::parse(name) else {
        return Ok(Some(refused("invalid_template_name")));
    };
    Ok(Some(match sql::get(&mut *s.ctx.db.conn()?, &name)? {
        Some(t) => json!({"success": true, "template": t.body}),
        None => refused("template_not_found"),
    }))
}

fn refused(reason: &str) -> serde_json::Value {
    json!({"success": false, "reason": reason})
}
