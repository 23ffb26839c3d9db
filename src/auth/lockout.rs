//! The login limits' keys of an account, and what an administrator sees
//! and undoes of them: whether an account is locked, and its unlocking.
//!
//! A login counts its failures under the name it was given (`email:` or
//! `name:`), under the account it found (`user:<id>`), and under each of
//! those from the client's address (`<address>|<key>`). Unlocking an
//! account deletes all of these, from every address; the address-wide
//! limit is the address's, not the account's, and stays.

use super::limiter::{stored, Limiter};
use crate::db::limits;
use crate::db::users::User;
use crate::db::{Db, DbError};
use std::collections::{HashMap, HashSet};

pub fn user_key(id: i32) -> String {
    format!("user:{id}")
}

/// Emails are compared without case, as `users::by_email` does.
pub fn email_key(email: &str) -> String {
    format!("email:{}", email.to_lowercase())
}

pub fn name_key(name: &str) -> String {
    format!("name:{name}")
}

/// The key of `account` from `address`; an address never holds a `|`.
pub fn pair_key(address: &str, account: &str) -> String {
    format!("{address}|{account}")
}

/// The two limits that lock an account: per address and account, and per
/// account from everywhere.
pub struct Lockout<'a> {
    pub pair: &'a Limiter,
    pub account: &'a Limiter,
}

/// The keys a login of `user` may count under, as stored.
fn account_keys(user: &User) -> [String; 3] {
    [
        user_key(user.id),
        email_key(&user.email),
        name_key(&user.name),
    ]
    .map(|k| stored(&k).into_owned())
}

impl Lockout<'_> {
    /// Deletes every count of `user`'s keys; how many rows there were.
    pub fn unlock(&self, db: &Db, user: &User) -> Result<u64, DbError> {
        let keys = account_keys(user);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let names = [self.account.name()];
        limits::delete_accounts(&mut *db.conn()?, &names, self.pair.name(), &keys)
    }

    /// The ids of `users` that a used-up limit locks at `now`, from
    /// everywhere or from some address.
    pub fn locked<'a>(
        &self,
        db: &Db,
        users: impl IntoIterator<Item = &'a User>,
        now: i64,
    ) -> Result<HashSet<i32>, DbError> {
        let mut owner: HashMap<String, i32> = HashMap::new();
        for user in users {
            for key in account_keys(user) {
                owner.insert(key, user.id);
            }
        }
        let keys: Vec<&str> = owner.keys().map(String::as_str).collect();
        let names = [self.account.name()];
        let rows = limits::of_accounts(&mut *db.conn()?, &names, self.pair.name(), &keys, now)?;
        let mut locked = HashSet::new();
        for row in rows {
            let (limiter, account) = match row.key.split_once('|') {
                Some((_, account)) if row.name == self.pair.name() => (self.pair, account),
                _ => (self.account, row.key.as_str()),
            };
            if limiter.used_up(&row, now) {
                locked.extend(owner.get(account));
            }
        }
        Ok(locked)
    }
}
