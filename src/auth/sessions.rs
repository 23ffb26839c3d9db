//! Sessions: PostgreSQL holds them (so a restart logs nobody out), a map in
//! memory answers almost every lookup (so an authenticated request costs no
//! database round trip).
//!
//! Expiry slides: every use moves it to `now + ttl`, but never past
//! `created + max`. The database learns of a slide only when the stored
//! expiry lags by a tenth of the ttl, which keeps the write rate low; after a
//! restart a session may therefore end up to that tenth early.
//!
//! Every end of a session is reported to the store's [`EndListener`] by the
//! store itself, once, by whoever removed the row from the database (a
//! `DELETE ... RETURNING` tells who that was).
//!
//! The cache holds only what the database said after the last change
//! heard from elsewhere (`db::notify`, through `server::listen`): every
//! such change bumps `heard` before it touches the cache, and an entry read
//! before a bump is not kept. While the listening connection is down
//! ([`distrust_cache`](SessionStore::distrust_cache)) the database decides
//! every use, so a session ended by another process or the command line is
//! refused here too; only when the database does not answer either (and
//! so nobody can end a session) does a cached session still pass.
//!
//! Callers pass the time in (`unix_now()` in the server), so that expiry
//! can be tested without waiting for it. What a user sees and ends of
//! their own sessions is in `owned`.

mod owned;

pub use self::owned::{public_id, Listed};
use super::ended::{EndListener, EndReason, Ended, Pending};
use super::token::{self, TokenHash};
use super::AuthError;
use crate::db::sessions::{DeletedRow, Origin};
use crate::db::users::{Role, User};
use crate::db::{sessions as sql, Db, DbError};
use crate::lock::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Above this many cached sessions, new ones are read from the database.
const MAX_CACHED: usize = 200_000;

/// A live session, as handlers see it.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub token_hash: TokenHash,
    pub expires_at: i64,
    /// The absolute end (`session_max_seconds` after login), whatever use.
    pub ends_at: i64,
}

struct Cached {
    user: User,
    created_at: i64,
    /// The last use; the database's `last_seen` lags like its expiry.
    last_seen: i64,
    expires_at: i64,
    /// The expiry the database holds.
    stored_expires_at: i64,
}

pub struct SessionStore {
    db: Arc<Db>,
    ttl: i64,
    max: i64,
    cache: Mutex<HashMap<TokenHash, Cached>>,
    /// Counts the changes heard from elsewhere (see the module's notes).
    heard: AtomicU64,
    /// Whether changes are heard now, so that the cache may be filled.
    trusted: AtomicBool,
    listener: Arc<dyn EndListener>,
}

enum Lookup {
    Live(Session, Option<i64>),
    Dead(EndReason),
    Miss,
}

impl SessionStore {
    pub fn new(db: Arc<Db>, ttl_secs: u64, max_secs: u64, listener: Arc<dyn EndListener>) -> Self {
        SessionStore {
            db,
            ttl: ttl_secs as i64,
            max: max_secs as i64,
            cache: Mutex::new(HashMap::new()),
            heard: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
            listener,
        }
    }

    /// Starts a session for `user` at `now` from `origin`; returns the new
    /// token and the session.
    pub fn create(
        &self,
        user: &User,
        origin: &Origin,
        now: i64,
    ) -> Result<(String, Session), AuthError> {
        let token = token::new_token()?;
        let hash = TokenHash::of(&token);
        let heard = self.heard.load(SeqCst);
        let expires_at = now + self.ttl.min(self.max);
        let times = (now, expires_at);
        sql::insert(&mut *self.db.conn()?, &hash.0, user.id, times, origin)?;
        let cached = Cached {
            user: user.clone(),
            created_at: now,
            last_seen: now,
            expires_at,
            stored_expires_at: expires_at,
        };
        self.remember(hash, cached, now, heard);
        let session = Session {
            user: user.clone(),
            token_hash: hash,
            expires_at,
            ends_at: now + self.max,
        };
        Ok((token, session))
    }

    /// The live session of `token` at `now`, renewed; `None` if unknown or
    /// expired.
    pub fn validate(&self, token: &str, now: i64) -> Result<Option<Session>, AuthError> {
        if !token::looks_like_token(token) {
            return Ok(None);
        }
        let hash = TokenHash::of(token);
        let (session, store) = match self.lookup_cached(hash, now) {
            Lookup::Live(session, store) if self.trusted.load(SeqCst) => (session, store),
            // Changes may go unheard: the database decides while it answers.
            Lookup::Live(cached, store) => match self.load(hash, now) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    lock(&self.cache).remove(&hash);
                    return Ok(None);
                }
                Err(_) => (cached, store),
            },
            Lookup::Dead(reason) => {
                self.end_dead(hash, reason);
                return Ok(None);
            }
            Lookup::Miss => match self.load(hash, now)? {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        if let Some(expires_at) = store {
            self.store_expiry(hash, now, expires_at);
        }
        Ok(Some(session))
    }

    fn lookup_cached(&self, hash: TokenHash, now: i64) -> Lookup {
        let mut cache = lock(&self.cache);
        let Some(c) = cache.get_mut(&hash) else {
            return Lookup::Miss;
        };
        if now >= c.expires_at || now >= c.created_at + self.max {
            let reason = EndReason::timed_out(c.created_at, self.max, now);
            cache.remove(&hash);
            return Lookup::Dead(reason);
        }
        let store = self.slide(c, now);
        Lookup::Live(
            Session {
                user: c.user.clone(),
                token_hash: hash,
                expires_at: c.expires_at,
                ends_at: c.created_at + self.max,
            },
            store,
        )
    }

    /// Moves the expiry forward; returns the expiry to write to the database
    /// when the stored one lags by a tenth of the ttl or more.
    fn slide(&self, c: &mut Cached, now: i64) -> Option<i64> {
        c.last_seen = c.last_seen.max(now);
        c.expires_at = (now + self.ttl).min(c.created_at + self.max);
        let step = (self.ttl / 10).max(1);
        (c.expires_at - c.stored_expires_at >= step).then_some(c.expires_at)
    }

    /// Reads a session the cache does not hold (after a restart, say).
    fn load(&self, hash: TokenHash, now: i64) -> Result<Option<(Session, Option<i64>)>, DbError> {
        let heard = self.heard.load(SeqCst);
        let Some(row) = sql::find(&mut *self.db.conn()?, &hash.0)? else {
            return Ok(None);
        };
        if now >= row.expires_at || now >= row.created_at + self.max {
            self.end_dead(hash, EndReason::timed_out(row.created_at, self.max, now));
            return Ok(None);
        }
        let mut cached = Cached {
            user: row.user,
            created_at: row.created_at,
            last_seen: now,
            expires_at: row.expires_at,
            stored_expires_at: row.expires_at,
        };
        let store = self.slide(&mut cached, now);
        let session = Session {
            user: cached.user.clone(),
            token_hash: hash,
            expires_at: cached.expires_at,
            ends_at: cached.created_at + self.max,
        };
        self.remember(hash, cached, now, heard);
        Ok(Some((session, store)))
    }

    /// Caches what was read when `heard` had the value `heard_then`,
    /// unless a change was heard since, or changes are not heard now.
    fn remember(&self, hash: TokenHash, cached: Cached, now: i64, heard_then: u64) {
        let mut cache = lock(&self.cache);
        if self.heard.load(SeqCst) != heard_then || !self.trusted.load(SeqCst) {
            return;
        }
        if cache.len() >= MAX_CACHED {
            let max = self.max;
            cache.retain(|_, c| now < c.expires_at && now < c.created_at + max);
        }
        if cache.len() < MAX_CACHED {
            cache.insert(hash, cached);
        }
    }

    /// Writes a slid expiry. A failure only delays it: the cache still
    /// serves the session, and a later use tries again.
    fn store_expiry(&self, hash: TokenHash, now: i64, expires_at: i64) {
        let written = self
            .db
            .conn()
            .and_then(|mut c| sql::touch(&mut *c, &hash.0, now, expires_at));
        match written {
            Ok(()) => {
                if let Some(c) = lock(&self.cache).get_mut(&hash) {
                    c.stored_expires_at = c.stored_expires_at.max(expires_at);
                }
            }
            Err(e) => log::debug!("expiry not stored yet: {e}"),
        }
    }

    /// Deletes a session found dead on a use. A failure only delays it:
    /// the janitor deletes (and reports) it later.
    fn end_dead(&self, hash: TokenHash, reason: EndReason) {
        match self
            .db
            .conn()
            .and_then(|mut c| sql::delete(&mut *c, &hash.0))
        {
            Ok(Some(row)) => self.report(&[row], reason, None, None),
            Ok(None) => {}
            Err(e) => log::debug!("expired session not deleted yet: {e}"),
        }
    }

    /// Ends the session of `token` if it is live at `now` (logout);
    /// `requester` is whoever asked, see [`Ended::requester`]. Returns its
    /// user's id if this call ended it.
    pub fn logout(
        &self,
        token: &str,
        requester: Option<u64>,
        now: i64,
    ) -> Result<Option<i32>, AuthError> {
        let Some(session) = self.validate(token, now)? else {
            return Ok(None);
        };
        let hash = session.token_hash;
        lock(&self.cache).remove(&hash);
        let Some(row) = sql::delete(&mut *self.db.conn()?, &hash.0)? else {
            return Ok(None);
        };
        let user = row.user_id;
        self.report(&[row], EndReason::Logout, Some(token), requester);
        Ok(Some(user))
    }

    /// Ends every session of a user (password change, logout everywhere,
    /// an administrator); `token`, if given, is the text of one of them
    /// (the caller's own). Returns how many ended.
    pub fn revoke_user(
        &self,
        user_id: i32,
        reason: EndReason,
        token: Option<&str>,
    ) -> Result<usize, AuthError> {
        lock(&self.cache).retain(|_, c| c.user.id != user_id);
        let rows = sql::delete_for_user(&mut *self.db.conn()?, user_id)?;
        self.report(&rows, reason, token, None);
        Ok(rows.len())
    }

    /// As [`SessionStore::revoke_user`], inside the caller's transaction
    /// (with the account's deletion, or the password reset): the ends are
    /// reported by [`SessionStore::announce`] after the commit.
    pub fn revoke_user_in(
        &self,
        tx: &mut impl postgres::GenericClient,
        user_id: i32,
        reason: EndReason,
    ) -> Result<Pending, AuthError> {
        lock(&self.cache).retain(|_, c| c.user.id != user_id);
        let rows = sql::delete_for_user(tx, user_id)?;
        Ok(Pending(self.ended(&rows, reason, None, None)))
    }

    /// Reports the ends of a committed transaction. The ended sessions
    /// leave the cache again first: a use between the first removal and
    /// the delete may have read one back from the database.
    pub fn announce(&self, pending: Pending) {
        {
            let mut cache = lock(&self.cache);
            for e in &pending.0 {
                cache.remove(&e.token_hash);
            }
        }
        for e in pending.0 {
            self.listener.session_ended(e);
        }
    }

    fn ended(
        &self,
        rows: &[DeletedRow],
        reason: EndReason,
        token: Option<&str>,
        requester: Option<u64>,
    ) -> Vec<Ended> {
        let known = token.map(TokenHash::of);
        rows.iter()
            .filter_map(|row| {
                let token_hash = TokenHash::from_slice(&row.token_hash)?;
                Some(Ended {
                    token_hash,
                    user_id: row.user_id,
                    reason,
                    token: token
                        .filter(|_| known == Some(token_hash))
                        .map(str::to_owned),
                    requester,
                })
            })
            .collect()
    }

    fn report(
        &self,
        rows: &[DeletedRow],
        reason: EndReason,
        token: Option<&str>,
        requester: Option<u64>,
    ) {
        self.announce(Pending(self.ended(rows, reason, token, requester)));
    }

    /// Reports a session whose row another program deleted (the admin
    /// command line, announced through `db::notify`), and forgets it.
    pub fn ended_elsewhere(&self, token_hash: &[u8], user_id: i32, reason: EndReason) {
        let Some(token_hash) = TokenHash::from_slice(token_hash) else {
            return;
        };
        self.heard.fetch_add(1, SeqCst);
        lock(&self.cache).remove(&token_hash);
        self.listener.session_ended_here(Ended {
            token_hash,
            user_id,
            reason,
            token: None,
            requester: None,
        });
    }

    /// Forgets one cached session, whose row another process deleted.
    pub fn forget(&self, token_hash: &[u8]) {
        if let Some(hash) = TokenHash::from_slice(token_hash) {
            self.heard.fetch_add(1, SeqCst);
            lock(&self.cache).remove(&hash);
        }
    }

    /// Forgets the cached sessions of a user (their rows are gone, or
    /// changed elsewhere): the next use reads the database.
    pub fn forget_user(&self, user_id: i32) {
        self.heard.fetch_add(1, SeqCst);
        lock(&self.cache).retain(|_, c| c.user.id != user_id);
    }

    /// Forgets every cached session, when changes may have been missed;
    /// returns how many there were.
    pub fn forget_all(&self) -> usize {
        self.heard.fetch_add(1, SeqCst);
        let mut cache = lock(&self.cache);
        let n = cache.len();
        cache.clear();
        n
    }

    /// Changes from elsewhere are not heard (the listening connection is
    /// lost): until [`trust_cache`](Self::trust_cache) every use asks the
    /// database, nothing new is cached, and what is cached serves only when
    /// the database does not answer; returns how many are cached.
    pub fn distrust_cache(&self) -> usize {
        self.trusted.store(false, SeqCst);
        self.heard.fetch_add(1, SeqCst);
        lock(&self.cache).len()
    }

    /// Changes are heard again: what was cached before may have missed
    /// some, so it goes, and sessions read from now on are cached.
    pub fn trust_cache(&self) -> usize {
        let dropped = self.forget_all();
        self.trusted.store(true, SeqCst);
        dropped
    }

    /// Applies a role change to the user's live sessions at once.
    pub fn set_role(&self, user_id: i32, role: Role) {
        self.heard.fetch_add(1, SeqCst);
        for c in lock(&self.cache).values_mut() {
            if c.user.id == user_id {
                c.user.role = role;
            }
        }
    }

    /// Drops expired sessions from memory and from the database, and
    /// reports each; the janitor thread calls this every
    /// `session_sweep_seconds`. A session the cache knows to be live but
    /// whose stored expiry lags (see the top of this file) is written
    /// first, so that the sweep does not end it early.
    pub fn sweep(&self, now: i64) -> Result<usize, AuthError> {
        let max = self.max;
        let lagging: Vec<(TokenHash, i64)> = {
            let mut cache = lock(&self.cache);
            cache.retain(|_, c| now < c.expires_at && now < c.created_at + max);
            cache
                .iter()
                .filter(|(_, c)| c.stored_expires_at < now)
                .map(|(h, c)| (*h, c.expires_at))
                .collect()
        };
        for (hash, expires_at) in lagging {
            self.store_expiry(hash, now, expires_at);
        }
        let rows = sql::delete_expired(&mut *self.db.conn()?, now, max)?;
        for row in &rows {
            let reason = EndReason::timed_out(row.created_at, max, now);
            self.report(std::slice::from_ref(row), reason, None, None);
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PgConfig;
    use std::time::Duration;

    struct Nobody;

    impl EndListener for Nobody {
        fn session_ended(&self, _: Ended) {}
    }

    /// A store whose database is never reached: these tests stay in the
    /// cache, where expiry is decided.
    fn store(ttl: u64, max: u64) -> SessionStore {
        let nowhere = PgConfig::unreachable(Duration::from_millis(10));
        SessionStore::new(Arc::new(Db::new(&nowhere)), ttl, max, Arc::new(Nobody))
    }

    /// A session created at `created` with the expiry the store would give it.
    fn cached(store: &SessionStore, created: i64) -> TokenHash {
        let heard = store.heard.load(SeqCst);
        cache_read_when(store, created, heard)
    }

    /// As [`cached`], for a row read when `heard` had the value `heard`.
    fn cache_read_when(store: &SessionStore, created: i64, heard: u64) -> TokenHash {
        let hash = TokenHash::of("a-token-for-the-cache");
        let expires_at = created + store.ttl.min(store.max);
        let user = User {
            id: 7,
            name: "ada".into(),
            email: "ada@example.org".into(),
            role: crate::db::users::Role::Guest,
            google_user: false,
        };
        let c = Cached {
            user,
            created_at: created,
            last_seen: created,
            expires_at,
            stored_expires_at: expires_at,
        };
        store.remember(hash, c, created, heard);
        hash
    }

    fn is_cached(store: &SessionStore, hash: TokenHash) -> bool {
        !matches!(store.lookup_cached(hash, 1_000), Lookup::Miss)
    }

    #[test]
    fn a_row_read_before_a_change_was_heard_is_not_cached() {
        let s = store(100, 1_000);
        let read_at = s.heard.load(SeqCst);
        // While the row was being read, another process ended a session.
        s.forget(&[0; 32]);
        let hash = cache_read_when(&s, 1_000, read_at);
        assert!(!is_cached(&s, hash), "stale read kept");
        let hash = cached(&s, 1_000);
        assert!(is_cached(&s, hash), "a read after the change is kept");
    }

    #[test]
    fn nothing_is_cached_while_changes_go_unheard() {
        let s = store(100, 1_000);
        let kept = cached(&s, 1_000);
        assert_eq!(s.distrust_cache(), 1);
        assert!(
            is_cached(&s, kept),
            "kept for when the database is away too"
        );
        s.forget(&kept.0);
        let hash = cached(&s, 1_000);
        assert!(!is_cached(&s, hash), "cached while not listening");
        let hash = cached(&s, 1_000);
        assert_eq!(s.trust_cache(), 0);
        assert!(!is_cached(&s, hash));
        let hash = cached(&s, 1_000);
        assert!(is_cached(&s, hash));
    }

    /// The expiry of a live session at `now`, `Err(reason)` if it is dead.
    fn use_at(store: &SessionStore, hash: TokenHash, now: i64) -> Result<i64, EndReason> {
        match store.lookup_cached(hash, now) {
            Lookup::Live(session, _) => Ok(session.expires_at),
            Lookup::Dead(reason) => Err(reason),
            Lookup::Miss => panic!("not in the cache"),
        }
    }

    #[test]
    fn each_use_slides_the_expiry_and_idleness_ends_the_session() {
        let s = store(2, 600);
        let hash = cached(&s, 1000);
        for now in 1000..1010 {
            assert_eq!(use_at(&s, hash, now), Ok(now + 2), "used at {now}");
        }
        // Last used at 1009: alive until 1011, not at it.
        assert_eq!(use_at(&s, hash, 1010), Ok(1012), "a second idle is fine");
        assert_eq!(use_at(&s, hash, 1012), Err(EndReason::Expired));
        assert!(
            matches!(s.lookup_cached(hash, 1012), Lookup::Miss),
            "forgotten"
        );
    }

    #[test]
    fn sessions_end_at_the_absolute_cap_however_used() {
        let s = store(2, 6);
        let hash = cached(&s, 1000);
        for now in 1000..1006 {
            let expires = use_at(&s, hash, now);
            assert_eq!(expires, Ok((now + 2).min(1006)), "used at {now}");
        }
        assert_eq!(use_at(&s, hash, 1006), Err(EndReason::AbsoluteCap));
    }

    #[test]
    fn a_ttl_as_long_as_the_cap_gives_the_cap() {
        let s = store(6, 6);
        let hash = cached(&s, 1000);
        assert_eq!(use_at(&s, hash, 1000), Ok(1006));
        assert_eq!(use_at(&s, hash, 1005), Ok(1006));
        assert_eq!(use_at(&s, hash, 1006), Err(EndReason::AbsoluteCap));
    }

    #[test]
    fn the_database_hears_of_a_slide_once_it_lags_a_tenth_of_the_ttl() {
        let s = store(100, 6000);
        let hash = cached(&s, 1000);
        let store_at = |now| match s.lookup_cached(hash, now) {
            Lookup::Live(_, store) => store,
            _ => panic!("dead at {now}"),
        };
        assert_eq!(store_at(1009), None, "lags 9 s of a 100 s ttl");
        assert_eq!(store_at(1010), Some(1110));
    }

    #[test]
    fn an_unknown_token_is_not_valid() {
        let s = store(2, 6);
        assert!(matches!(
            s.validate("not a token", 1000).map(|v| v.is_none()),
            Ok(true)
        ));
    }
}
