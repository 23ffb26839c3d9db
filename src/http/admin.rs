//! Roles, the user list and the running modules; the administrators'
//! actions on one account (`/users/{id}/...`) are in `admin_actions`.

use super::accounts::user_json;
use super::caller::{admin_for, authenticate, authenticate_admin};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::validate;
use crate::audit::{Actor, Entry};
use crate::clock::unix_millis;
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
    let admin = authenticate_admin(ctx, req)?.user.id;
    let name = req.require("user_name")?;
    let role = validate::role(req.require("role")?)?;
    let ids = users::set_role(&mut *ctx.db.conn()?, name, role)?;
    if ids.is_empty() {
        return Err(ApiError::new(404, "user_not_found"));
    }
    for id in ids {
        ctx.sessions.set_role(id, role);
        let entry = Entry::new(Actor::User(admin), "role_changed").target(format!("user:{id}"));
        ctx.audit.record(entry.address(req.client()));
    }
    ctx.hub.broadcast(Event::UserRoleChange {
        username: name.to_owned(),
        role,
    });
    log::info!("role of a user set to {role}");
    Ok(Reply::ok(json!({"status": 200, "success": true})))
}

/// GET /users (admin), each with `last_login` (Unix seconds, or null) and
/// `locked`: whether a failure limit refuses its logins now, from
/// everywhere or from some address.
pub fn list_users(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate_admin(ctx, req)?;
    let mut conn = ctx.db.conn()?;
    let unverified = crate::db::verifications::unverified_ids(&mut *conn)?;
    let all = users::list_with_last_login(&mut *conn)?;
    drop(conn);
    let accounts = all.iter().map(|(user, _)| user);
    let locked = ctx.lockout().locked(&ctx.db, accounts, unix_millis())?;
    let list: Vec<Value> = all
        .iter()
        .map(|(user, last_login)| {
            let mut json = user_json(user);
            json["verified"] = (!unverified.contains(&user.id)).into();
            json["last_login"] = json!(last_login);
            json["locked"] = locked.contains(&user.id).into();
            json
        })
        .collect();
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "user_list": list}),
    ))
}

/// POST /users/unlock (admin): `user_id`. Clears the failure counts
/// that lock the account (`auth::lockout`), so that it can log in again.
pub fn unlock(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin_for(ctx, req, "user_unlocked")?.user.id;
    let id = user_id(req.require("user_id")?)?;
    let creds = users::by_id(&mut *ctx.db.conn()?, id)?;
    let user = creds.ok_or(ApiError::new(404, "user_not_found"))?.user;
    let cleared = ctx.lockout().unlock(&ctx.db, &user)?;
    let entry = Entry::new(Actor::User(admin), "user_unlocked").target(format!("user:{id}"));
    ctx.audit.record(entry.address(req.client()));
    log::info!("unlocked user {id} ({cleared} counts cleared)");
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "cleared": cleared}),
    ))
}

/// A user id as a parameter: a positive decimal integer.
fn user_id(text: &str) -> Result<i32, ApiError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<i32>() {
        Ok(id) if digits && id > 0 => Ok(id),
        _ => Err(ApiError::bad_request("user_id_not_valid")),
    }
}

/// GET /execution/running: the platform and every registered module.
pub fn running(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    authenticate(ctx, req)?;
    Ok(Reply::ok(
        json!({"running_modules": ctx.hub.running_json(ctx.port)}),
    ))
}
