"""Password checks under load: one slow hash per credential, yet a new password or a disabled
account still bites once the cached success expires (real CouchDB accounts)."""

from __future__ import annotations

import threading

import pytest
from conftest import PASSWORD, wait_for

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


def test_a_check_given_up_as_busy_counts_against_no_one(conn, township):
    """Under a burst of first logins the hashing slots run out and the caller hears "busy": that
    attempt was never judged, so it must not stay counted (the fleet benchmark's 200 tablets, all
    from one address, were locked out by the leftovers)."""
    from server.access.lockout import Lockout, key

    auth = accounts.Authenticator(conn.admin, lockout=Lockout(conn.admin), hashing=1, wait_s=0.05)
    auth._slots.acquire()  # every slot taken by other checks
    try:
        for _ in range(40):
            with pytest.raises(accounts.Busy):
                auth.check("gw_a", PASSWORD, "10.0.0.7")
    finally:
        auth._slots.release()
    for kind, value in (("address", "10.0.0.7"), ("name", "gw_a")):
        doc = conn.admin.get(names.ACCOUNTS, key(kind, value)) or {}
        assert doc.get("attempts", []) == [], kind
    assert auth.check("gw_a", PASSWORD, "10.0.0.7") is not None  # nobody was locked
    assert auth.check("gw_a", "wrong", "10.0.0.7") is None
    assert len(conn.admin.get(names.ACCOUNTS, key("name", "gw_a"))["attempts"]) == 1  # a judged one counts


def test_a_burst_of_right_passwords_from_one_address_locks_nobody_out(conn, township):
    """Forty grid workers sign in at the same moment behind one address (a township office's
    NAT) while a single slot hashes: the address's limit is 30, so counting each attempt while it
    queued for the slot locked the last ones out. A wrong guess among them still counts."""
    from server.access.lockout import ADDRESS_LIMIT, Lockout, key

    auth = accounts.Authenticator(conn.admin, lockout=Lockout(conn.admin), hashing=1, wait_s=120)

    def stripe(name: str, password: str) -> int:
        return hash(auth._key(name, password)) % len(auth._stripes)

    # Names on stripes of their own, so that every sign-in reaches the slot rather than queueing
    # behind another on a shared stripe lock (which the wait below could not see).
    taken, workers = {stripe("gw_a", "a-wrong-guess")}, []
    for i in range(1000):
        if len(workers) < ADDRESS_LIMIT + 10 and stripe(f"burst_{i:03d}", PASSWORD) not in taken:
            taken.add(stripe(f"burst_{i:03d}", PASSWORD))
            workers.append(f"burst_{i:03d}")
    shared = accounts.generate_password_hash(PASSWORD)
    for name in workers:
        accounts.add_user(conn.admin, name, None, "field", [township.a], password_hash=shared)
    start = threading.Barrier(len(workers) + 2)  # the sign-ins, a wrong guess, this thread
    results: dict[str, object] = {}

    def sign_in(name: str, password: str) -> None:
        start.wait()
        try:
            results[name] = auth.check(name, password, "10.0.0.9")
        except accounts.BilingualError as exc:
            results[name] = exc

    threads = [threading.Thread(target=sign_in, args=(n, PASSWORD)) for n in workers]
    threads.append(threading.Thread(target=sign_in, args=("gw_a", "a-wrong-guess")))
    auth._slots.acquire()  # the slot is busy until every sign-in has queued for it (or been refused)
    try:
        for t in threads:
            t.start()
        start.wait()
        queued = auth._slots._cond._waiters  # type: ignore[attr-defined]  # threads blocked on the slot
        wait_for(lambda: len(queued) + len(results) == len(threads), timeout=60, message="all queued or answered")
    finally:
        auth._slots.release()
    for t in threads:
        t.join(180)
    assert {n: getattr(results[n], "name", results[n]) for n in workers} == {n: n for n in workers}
    assert results["gw_a"] is None
    assert len(conn.admin.get(names.ACCOUNTS, key("address", "10.0.0.9"))["attempts"]) == 1  # the wrong guess
