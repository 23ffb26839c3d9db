"""A module's cache of users' access tokens, fed by the platform's
broadcasts, with the original ``token_cache_client`` interface
(``insert``, ``get``, ``remove``) and without its flaw: an entry is never
returned past its session's absolute end (``session_expires``), is dropped
when the platform says the session ended (``session_ended``, by the
token's SHA-256), and is asked about again after ``revalidate_seconds``,
however often it is used.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any, Callable, Dict, Mapping, Optional

log = logging.getLogger("sse_platform_client")

#: Expired entries are swept on insert at most this often.
SWEEP_INTERVAL = 60.0


def token_sha256(token: str) -> str:
    """Hex SHA-256 of the token's text, as ``session_ended`` names it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_time(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


class _Entry:
    __slots__ = ("user", "session_expires", "idle_until", "confirmed_at", "sha256")

    def __init__(self, user: Dict[str, Any], session_expires: Optional[float], now: float,
                 ttl: float, sha256: str) -> None:
        self.user = user
        self.session_expires = session_expires
        self.confirmed_at = now
        self.idle_until = self._capped(now + ttl)
        self.sha256 = sha256

    def _capped(self, t: float) -> float:
        if self.session_expires is None:
            return t
        return min(t, self.session_expires)


class TokenCache:
    """Tokens to users. Not thread-safe: use it from the event loop that
    runs the client (as the original was)."""

    def __init__(self, ttl_seconds: float = 3600.0, revalidate_seconds: Optional[float] = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self.revalidate_seconds = revalidate_seconds
        self._clock = clock
        self._data: Dict[str, _Entry] = {}
        self._by_hash: Dict[str, str] = {}
        self._last_sweep = 0.0

    def configure(self, ttl_seconds: float, revalidate_seconds: Optional[float]) -> None:
        self.ttl_seconds = ttl_seconds
        self.revalidate_seconds = revalidate_seconds

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.get(token, renew=False) is not None

    def insert(self, token: str, username: str, email: Optional[str], id: int, role: str,
               session_expires: Optional[float] = None) -> None:
        """Caches ``token`` for the user; ``session_expires`` (Unix seconds)
        is the session's absolute end, past which the entry is never given
        out."""
        now = self._clock()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._sweep(now)
        self.remove(token)
        user = {"username": username, "email": email, "id": id, "role": role}
        sha = token_sha256(token)
        self._data[token] = _Entry(user, session_expires, now, self.ttl_seconds, sha)
        self._by_hash[sha] = token

    def get(self, token: str, renew: bool = True) -> Optional[Dict[str, Any]]:
        """The user of ``token`` (``username``, ``email``, ``id``, ``role``,
        ``expires`` as a datetime, ``session_expires``), or None if it is not
        cached or no longer good. A hit renews the idle expiry, never past
        the session's end."""
        entry = self._data.get(token)
        if entry is None:
            return None
        now = self._clock()
        if not self._fresh(entry, now):
            self.remove(token)
            return None
        if renew:
            entry.idle_until = entry._capped(now + self.ttl_seconds)
        found = dict(entry.user)
        found["expires"] = datetime.fromtimestamp(entry.idle_until)
        found["session_expires"] = entry.session_expires
        return found

    def _fresh(self, entry: _Entry, now: float) -> bool:
        if entry.session_expires is not None and now >= entry.session_expires:
            return False
        if now >= entry.idle_until:
            return False
        age = self.revalidate_seconds
        return age is None or now - entry.confirmed_at < age

    def remove(self, token: str) -> None:
        entry = self._data.pop(token, None)
        if entry is not None:
            self._by_hash.pop(entry.sha256, None)

    def remove_sha256(self, digest: str) -> None:
        token = self._by_hash.get(digest.lower())
        if token is not None:
            self.remove(token)

    def remove_user(self, user_id: int) -> None:
        for token in [t for t, e in self._data.items() if e.user["id"] == user_id]:
            self.remove(token)

    def clear(self) -> None:
        self._data.clear()
        self._by_hash.clear()

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for token in [t for t, e in self._data.items() if not self._fresh(e, now)]:
            self.remove(token)

    def apply(self, message: Mapping[str, Any]) -> bool:
        """Applies a broadcast; ``True`` if it was one this cache follows.
        A malformed one changes nothing and raises nothing."""
        kind = message.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return False
        handler(self, message)
        return True

    def _on_login(self, m: Mapping[str, Any]) -> None:
        token, name, uid, role = (m.get(k) for k in ("access_token", "username", "id", "role"))
        email = m.get("email")
        ends = m.get("session_expires")
        if token is None and "access_token" not in m:
            # A module the platform sends no tokens to (module_permissions).
            return
        if not (isinstance(token, str) and isinstance(name, str) and _is_int(uid)
                and isinstance(role, str) and (email is None or isinstance(email, str))):
            log.warning("ignored a user_login broadcast with missing or mistyped fields")
            return
        if ends is not None and not _is_time(ends):
            # Without a usable end the entry could outlive its session.
            log.warning("ignored a user_login broadcast with a mistyped session_expires")
            return
        self.insert(token, name, email, uid, role, session_expires=ends)

    def _on_logout(self, m: Mapping[str, Any]) -> None:
        token = m.get("access_token")
        if isinstance(token, str):
            self.remove(token)

    def _on_delete(self, m: Mapping[str, Any]) -> None:
        self._on_logout(m)
        self._on_revoked(m)

    def _on_revoked(self, m: Mapping[str, Any]) -> None:
        uid = m.get("userid")
        if _is_int(uid):
            self.remove_user(uid)

    def _on_role_change(self, m: Mapping[str, Any]) -> None:
        name, role = m.get("username"), m.get("role")
        if isinstance(name, str) and isinstance(role, str):
            for entry in self._data.values():
                if entry.user["username"] == name:
                    entry.user["role"] = role

    def _on_session_ended(self, m: Mapping[str, Any]) -> None:
        digest = m.get("token_sha256")
        if isinstance(digest, str):
            self.remove_sha256(digest)


_HANDLERS: Dict[str, Callable[[TokenCache, Mapping[str, Any]], None]] = {
    "user_login": TokenCache._on_login,
    "user_logout": TokenCache._on_logout,
    "user_delete": TokenCache._on_delete,
    "user_sessions_revoked": TokenCache._on_revoked,
    "user_role_change": TokenCache._on_role_change,
    "session_ended": TokenCache._on_session_ended,
}

_the_cache: Optional[TokenCache] = None


def get_token_cache() -> TokenCache:
    """The process's token cache, the one ``get_socket_instance()``'s client
    feeds (as the original ``token_cache_client.get_token_cache``)."""
    global _the_cache
    if _the_cache is None:
        _the_cache = TokenCache()
    return _the_cache
