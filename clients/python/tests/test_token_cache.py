"""The token cache on its own: the original interface, and no entry past
its session's end, past session_ended, or past the revalidation age."""

from __future__ import annotations

from typing import List

import pytest

from sse_platform_client import TokenCache, token_sha256


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def login(token: str = "T", uid: int = 7, **extra) -> dict:
    m = {"type": "user_login", "username": "bob", "email": "bob@example.org", "id": uid,
         "role": "guest", "access_token": token}
    m.update(extra)
    return m


def test_original_interface():
    cache = TokenCache()
    cache.insert("T", "bob", "bob@example.org", 7, "guest")
    entry = cache.get("T")
    assert entry is not None
    assert (entry["username"], entry["email"], entry["id"], entry["role"]) == ("bob", "bob@example.org", 7, "guest")
    assert "expires" in entry
    cache.remove("T")
    assert cache.get("T") is None
    cache.remove("never there")


def test_follows_broadcasts():
    cache = TokenCache()
    assert cache.apply(login())
    assert cache.get("T")["id"] == 7
    cache.apply({"type": "user_role_change", "username": "bob", "role": "teacher"})
    assert cache.get("T")["role"] == "teacher"
    cache.apply({"type": "user_logout", "access_token": "T"})
    assert cache.get("T") is None
    cache.apply(login("U"))
    cache.apply({"type": "user_delete", "userid": 7, "access_token": "other"})
    assert len(cache) == 0
    cache.apply(login("V"))
    cache.apply({"type": "user_sessions_revoked", "userid": 8})
    assert cache.get("V") is not None, "another user's revocation"
    cache.apply({"type": "user_sessions_revoked", "userid": 7})
    assert len(cache) == 0


def test_session_ended_drops_the_token_with_that_hash():
    cache = TokenCache()
    cache.apply(login("T"))
    cache.apply(login("U"))
    cache.apply({"type": "session_ended", "token_sha256": token_sha256("T"), "userid": 7,
                 "reason": "logout", "resolve_id": "r1"})
    assert cache.get("T") is None
    assert cache.get("U") is not None
    cache.apply({"type": "session_ended", "token_sha256": token_sha256("U").upper(), "userid": 7})
    assert cache.get("U") is None


def test_no_entry_past_session_expires_however_often_used():
    clock = Clock()
    cache = TokenCache(ttl_seconds=3600, revalidate_seconds=None, clock=clock)
    cache.apply(login(session_expires=clock.now + 100))
    for _ in range(9):
        clock.now += 10
        assert cache.get("T") is not None
        assert cache.get("T")["expires"].timestamp() <= 1_700_000_100
    clock.now += 10
    assert cache.get("T") is None, "at the session's end"


def test_idle_entries_expire_and_use_renews():
    clock = Clock()
    cache = TokenCache(ttl_seconds=60, revalidate_seconds=None, clock=clock)
    cache.insert("T", "bob", None, 7, "guest")
    clock.now += 50
    assert cache.get("T") is not None
    clock.now += 50
    assert cache.get("T") is not None, "the last use renewed it"
    clock.now += 61
    assert cache.get("T") is None


def test_revalidation_age():
    clock = Clock()
    cache = TokenCache(ttl_seconds=3600, revalidate_seconds=300, clock=clock)
    cache.insert("T", "bob", None, 7, "guest")
    for _ in range(29):
        clock.now += 10
        assert cache.get("T") is not None
    clock.now += 10
    assert cache.get("T") is None, "asked about again after 300 s, used or not"


HOSTILE: List[dict] = [
    {}, {"type": None}, {"type": 5}, {"type": ["user_login"]},
    {"type": "user_login"}, login(access_token=5), login(id="7"), login(id=True), login(username=None),
    login(email=5), login(session_expires="soon"), login(session_expires=float("nan")),
    login(session_expires=True), {"type": "user_logout"}, {"type": "user_logout", "access_token": []},
    {"type": "user_delete", "userid": "7"}, {"type": "user_sessions_revoked", "userid": None},
    {"type": "user_role_change", "username": 1, "role": {}}, {"type": "session_ended"},
    {"type": "session_ended", "token_sha256": 12}, {"type": "module_started", "name": "x"},
    {"type": "something_new", "resolve_id": "x"},
]


@pytest.mark.parametrize("message", HOSTILE, ids=range(len(HOSTILE)))
def test_malformed_broadcasts_change_nothing_and_raise_nothing(message):
    cache = TokenCache()
    cache.apply(login("keep"))
    cache.apply(message)
    assert cache.get("keep") is not None
    assert len(cache) == 1
