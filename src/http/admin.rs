//! Roles, the user list and the running modules; the administrators'
//! actions on one account (`/users/{id}/...`) are in `admin_actions`.

use super::accounts::user_json;
use super::caller::{authenticate, authenticate_admin};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::validate;
use crate::ctx::Ctx;
use crate::db::users;
use crate::hub::Event;
use serde_json::{json, Value};

/// GET /roles: the caller's own role.
pub fn get_role(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = authenticate(ctx, req)?;
    Ok(Reply::ok(
        json!({"type": "permission_response", "role": session.user.role.as_str()}),
    ))
}

/// POST /roles (admin): `user_name`, `role`. Applies to the user's live
/// sessions at once and tells the modules.
pub fn set_role(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate_admin(ctx, req)?;
    let name = req.require("user_name")?;
    let role = validate::role(req.require("role")?)?;
    let ids = users::set_role(&mut *ctx.db.conn()?, name, role)?;
    if ids.is_empty() {
        return Err(ApiError::new(404, "user_not_found"));
    }
    for id in ids {
        ctx.sessions.set_role(id, role);
    }
    ctx.hub.broadcast(Event::UserRoleChange {
        username: name.to_owned(),
        role,
    });
    log::info!("role of a user set to {role}");
    Ok(Reply::ok(json!({"status": 200, "success": true})))
}

/// GET /users (admin): each with `last_login` (Unix seconds, or null).
pub fn list_users(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate_admin(ctx, req)?;
    let mut conn = ctx.db.conn()?;
    let unverified = crate::db::verifications::unverified_ids(&mut *conn)?;
    let list: Vec<Value> = users::list_with_last_login(&mut *conn)?
        .iter()
        .map(|(user, last_login)| {
            let mut json = user_json(user);
            json["verified"] = (!unverified.contains(&user.id)).into();
            json["last_login"] = json!(last_login);
            json
        })
        .collect();
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "user_list": list}),
    ))
}

/// GET /execution/running: the platform and every registered module.
pub fn running(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate(ctx, req)?;
    Ok(Reply::ok(
        json!({"running_modules": ctx.hub.running_json(ctx.port)}),
    ))
}
