//! The optional `module_permissions` section: per module, the request types
//! it may send, whether its broadcasts carry tokens and emails, and the
//! modules it may message. A module the section does not name, and every
//! key a module's entry leaves out, may do everything, as without it.
//!
//! ```json
//! "module_permissions": {
//!   "chatsystem": {"requests": ["token_validation", "get_user"],
//!                  "user_data": false, "message_modules": ["ListServ"]}
//! }
//! ```

use super::fields::Fields;
use super::ConfigError;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// A request type a module may send (the hub's dispatch table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestType {
    ModuleStart,
    TokenValidation,
    GetUser,
    GetUserList,
    CheckPermission,
    UserLogout,
    GetRunningModules,
    MessageModule,
    MessageModuleResponse,
    UpdateTokenTtl,
    PostTemplate,
    GetTemplate,
}

const NAMES: [(RequestType, &str); 12] = [
    (RequestType::ModuleStart, "module_start"),
    (RequestType::TokenValidation, "token_validation"),
    (RequestType::GetUser, "get_user"),
    (RequestType::GetUserList, "get_user_list"),
    (RequestType::CheckPermission, "check_permission"),
    (RequestType::UserLogout, "user_logout"),
    (RequestType::GetRunningModules, "get_running_modules"),
    (RequestType::MessageModule, "message_module"),
    (
        RequestType::MessageModuleResponse,
        "message_module_response",
    ),
    (RequestType::UpdateTokenTtl, "update_token_ttl"),
    (RequestType::PostTemplate, "post_template"),
    (RequestType::GetTemplate, "get_template"),
];

impl RequestType {
    pub fn from_name(name: &str) -> Option<RequestType> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
    }
}

/// What one module may do; `None` in a list means "no restriction".
#[derive(Clone, Debug)]
pub struct Permission {
    requests: Option<BTreeSet<RequestType>>,
    /// Whether its broadcasts carry access tokens and emails.
    pub user_data: bool,
    message_modules: Option<BTreeSet<String>>,
}

impl Permission {
    const ALL: Permission = Permission {
        requests: None,
        user_data: true,
        message_modules: None,
    };

    /// Whether it may send a request of type `kind`. A type the platform
    /// does not know is not refused here: the dispatch answers it.
    pub fn may_request(&self, kind: &str) -> bool {
        match (&self.requests, RequestType::from_name(kind)) {
            (Some(allowed), Some(t)) => allowed.contains(&t),
            _ => true,
        }
    }

    /// Whether it may send `message_module` (or its response) to `module`.
    pub fn may_message(&self, module: &str) -> bool {
        self.message_modules
            .as_ref()
            .is_none_or(|allowed| allowed.contains(module))
    }
}

/// Every module's permissions.
#[derive(Clone, Debug, Default)]
pub struct ModulePermissions {
    modules: HashMap<String, Permission>,
}

impl ModulePermissions {
    pub fn of(&self, module: &str) -> &Permission {
        self.modules.get(module).unwrap_or(&Permission::ALL)
    }
}

pub(super) fn module_permissions(f: &mut Fields) -> Result<ModulePermissions, ConfigError> {
    const KEY: &str = "module_permissions";
    let modules = match f.take(KEY) {
        None | Some(Value::Null) => return Ok(ModulePermissions::default()),
        Some(Value::Object(modules)) => modules,
        Some(other) => return Err(f.error(KEY, format!("expected an object, got {other}"))),
    };
    let mut parsed = HashMap::new();
    for (name, entry) in modules {
        let key = format!("{KEY}.{name}");
        let Value::Object(entry) = entry else {
            return Err(f.error(&key, format!("expected an object, got {entry}")));
        };
        parsed.insert(name, permission(f, &key, entry)?);
    }
    Ok(ModulePermissions { modules: parsed })
}

fn permission(
    f: &Fields,
    key: &str,
    mut entry: Map<String, Value>,
) -> Result<Permission, ConfigError> {
    let requests = match names(f, &format!("{key}.requests"), entry.remove("requests"))? {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|n| {
                    RequestType::from_name(n).ok_or_else(|| {
                        let known: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
                        let problem =
                            format!("unknown request type '{n}' (known: {})", known.join(", "));
                        f.error(&format!("{key}.requests"), problem)
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let user_data = match entry.remove("user_data") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            let problem = format!("expected true or false, got {other}");
            return Err(f.error(&format!("{key}.user_data"), problem));
        }
    };
    let message_modules = names(
        f,
        &format!("{key}.message_modules"),
        entry.remove("message_modules"),
    )?;
    if let Some(unknown) = entry.keys().next() {
        let problem = "unknown key (known: requests, user_data, message_modules)";
        return Err(f.error(&format!("{key}.{unknown}"), problem));
    }
    Ok(Permission {
        requests,
        user_data,
        message_modules,
    })
}

/// A list of strings; `None` when absent or null.
fn names(
    f: &Fields,
    key: &str,
    value: Option<Value>,
) -> Result<Option<BTreeSet<String>>, ConfigError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(f.error(key, format!("expected a list of names, got {other}"))),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s),
            other => Err(f.error(key, format!("{other} is not a name"))),
        })
        .collect::<Result<BTreeSet<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn parse(v: Value) -> Result<ModulePermissions, ConfigError> {
        let map = json!({ "module_permissions": v })
            .as_object()
            .cloned()
            .unwrap_or_default();
        module_permissions(&mut Fields::new(Path::new("c.json"), map))
    }

    #[test]
    fn absent_means_everything_and_lists_restrict() {
        let p = parse(Value::Null).unwrap();
        assert!(p.of("x").may_request("get_user_list") && p.of("x").user_data);
        let p = parse(
            json!({"chat": {"requests": ["get_user"], "user_data": false,
                                      "message_modules": ["ListServ"]}}),
        )
        .unwrap();
        let chat = p.of("chat");
        assert!(chat.may_request("get_user") && !chat.may_request("get_user_list"));
        assert!(
            chat.may_request("teleport"),
            "unknown types reach the dispatch"
        );
        assert!(!chat.user_data);
        assert!(chat.may_message("ListServ") && !chat.may_message("SocialServ"));
        assert!(p.of("other").may_message("chat"));
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = parse(json!({"chat": {"requests": ["get_usr"]}})).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("module_permissions.chat.requests"));
        let e = parse(json!({"chat": {"user_data": "no"}})).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("module_permissions.chat.user_data"));
        let e = parse(json!({"chat": {"requets": []}})).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("module_permissions.chat.requets"));
        assert!(parse(json!(["chat"])).is_err());
        assert!(parse(json!({"chat": {"message_modules": [1]}})).is_err());
    }
}
