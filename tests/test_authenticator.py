"""Password checks under load: one slow hash per credential, yet a new password or a disabled
account still bites once the cached success expires (real CouchDB accounts)."""

from __future__ import annotations

import threading

import pytest
from conftest import PASSWORD

from server.access import accounts
from sync import names


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Counts the scrypt checks the authenticator makes (the real function still runs)."""
    calls: list[str] = []
    real = accounts.check_password_hash

    def counting(stored: str, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return calls


def test_an_expired_success_is_read_again_but_not_hashed_again(conn, township, hashes):
    auth = accounts.Authenticator(conn.admin, ttl_s=0)  # every success expires at once
    assert auth.check("gw_a", PASSWORD).name == "gw_a"
    assert auth.check("gw_a", PASSWORD).name == "gw_a"
    assert auth.check("gw_a", PASSWORD).name == "gw_a"
    assert len(hashes) == 1
    assert auth.check("gw_a", "wrong-password") is None and len(hashes) == 2


def test_a_new_password_or_a_disabled_account_bites_after_expiry(conn, township, hashes):
    auth = accounts.Authenticator(conn.admin, ttl_s=0)
    assert auth.check("gw_a", PASSWORD)
    accounts.add_user(conn.admin, "gw_a", "a-new-password-1", "field", [township.a])
    assert auth.check("gw_a", PASSWORD) is None
    assert auth.check("gw_a", "a-new-password-1").name == "gw_a"
    doc = conn.admin.get(names.ACCOUNTS, "user:gw_a")
    conn.admin.put(names.ACCOUNTS, {**doc, "disabled": True})
    assert auth.check("gw_a", "a-new-password-1") is None


def test_concurrent_checks_of_one_credential_hash_once(conn, township, hashes):
    auth = accounts.Authenticator(conn.admin)
    start = threading.Barrier(16)
    results = []

    def check() -> None:
        start.wait()
        results.append(auth.check("gw_a", PASSWORD))

    threads = [threading.Thread(target=check) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [u.name for u in results] == ["gw_a"] * 16
    assert len(hashes) == 1
