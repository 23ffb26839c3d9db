//! GET /template?template=NAME: a template a module stored, for a
//! logged-in user's page (the 2021-11 original's).

use super::caller::authenticate;
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use crate::ctx::Ctx;
use crate::db::templates::{self as sql, TemplateName};
use serde_json::json;

/// 200 `{"template": "<html>"}`; 404 `template_not_found`.
pub fn get(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate(ctx, req)?;
    let name = req.require("template")?;
    let name = TemplateName::parse(name).ok_or(ApiError::bad_request("invalid_template_name"))?;
    let template =
        sql::get(&mut *ctx.db.conn()?, &name)?.ok_or(ApiError::new(404, "template_not_found"))?;
    Ok(Reply::ok(json!({"template": template.body})))
}
