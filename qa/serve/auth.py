"""API keys, per-key rate limits, and a guard that slows key guessing per client address.

A key reads `quarry_<key id>_<secret>`. Only a salted scrypt hash of the secret is kept, in
its own DuckDB file beside the store. The server reads that file only for a moment, when its
size or modification time changes, so `quarry keys create / revoke` can write it while the
server runs; a revoked key is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pydantic import BaseModel

from qa.serve.models import ServeError

PREFIX = "quarry"
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id VARCHAR PRIMARY KEY, principal VARCHAR NOT NULL, groups VARCHAR[],
    salt VARCHAR NOT NULL, hash VARCHAR NOT NULL, created_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ
)
"""


class ApiKey(BaseModel, frozen=True):
    """A stored key: who it speaks for, never the secret."""

    key_id: str
    principal: str
    groups: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


class Caller(BaseModel, frozen=True):
    """The principal a request speaks for, and the groups it belongs to."""

    key_id: str
    principal: str
    groups: list[str] = []

    @property
    def principals(self) -> list[str]:
        return [self.principal, *self.groups]


def scope_headers(scope: dict) -> dict[str, str]:
    """An ASGI request's headers by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT).hex()


def split_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def connect(path: Path, read_only: bool, attempts: int = 50) -> duckdb.DuckDBPyConnection:
    """A connection to the keys file, retried while another process holds its lock."""
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def file_signature(path: Path) -> tuple | None:
    """Size and modification time of a DuckDB file and its write-ahead log."""
    parts = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
            parts.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            parts.append(None)
    return None if parts[0] is None else tuple(parts)


class KeyStore:
    """API keys at `path` (a DuckDB file): create, revoke, list and verify."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._records: dict[str, dict] = {}
        self._verified: dict[str, str] = {}

    def create(self, principal: str, groups: Sequence[str] = ()) -> tuple[ApiKey, str]:
        """A new key for the principal; the key itself is returned once and never stored."""
        if not principal.strip():
            raise ValueError("a key needs a principal")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        record = ApiKey(
            key_id=key_id, principal=principal, groups=list(dict.fromkeys(groups)),
            created_at=datetime.now(UTC),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path, read_only=False)
        try:
            db.execute(SCHEMA)
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                [key_id, principal, record.groups, salt.hex(), hash_secret(secret, salt), record.created_at],
            )
        finally:
            db.close()
        return record, f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when no active key has that id."""
        if not self.path.exists():
            return False
        db = connect(self.path, read_only=False)
        try:
            db.execute(SCHEMA)
            rows = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
                "RETURNING key_id",
                [datetime.now(UTC), key_id],
            ).fetchall()
        finally:
            db.close()
        return bool(rows)

    def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first, revoked ones included."""
        return [ApiKey(**{k: r[k] for k in ApiKey.model_fields}) for r in self._read()]

    def known_id(self, key: str) -> str | None:
        """The id of an active key that `key` names (its secret unchecked), else None."""
        parts = split_key(key)
        if parts is None:
            return None
        self._reload()
        record = self._records.get(parts[0])
        return parts[0] if record is not None and record["revoked_at"] is None else None

    def cached(self, key: str) -> Caller | None:
        """The caller of a key already verified since the keys last changed; no scrypt."""
        key_id = self.known_id(key)
        if key_id is None or self._verified.get(hashlib.sha256(key.encode()).hexdigest()) != key_id:
            return None
        return self._caller(key_id)

    def verify(self, key: str) -> Caller | None:
        """The caller a key speaks for; None for a malformed, unknown or revoked key."""
        key_id = self.known_id(key)
        if key_id is None:
            return None
        if (caller := self.cached(key)) is not None:
            return caller
        record = self._records[key_id]
        expected = hash_secret(key.split("_", 2)[2], bytes.fromhex(record["salt"]))
        if not hmac.compare_digest(expected, record["hash"]):
            return None
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[hashlib.sha256(key.encode()).hexdigest()] = key_id
        return self._caller(key_id)

    def _caller(self, key_id: str) -> Caller:
        record = self._records[key_id]
        return Caller(key_id=key_id, principal=record["principal"], groups=list(record["groups"] or []))

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        db = connect(self.path, read_only=True)
        try:
            if not db.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'api_keys'").fetchall():
                return []
            cursor = db.execute("SELECT * FROM api_keys ORDER BY created_at, key_id")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            db.close()

    def _reload(self) -> None:
        """Re-read the keys when the file changed; keep the last good copy while it is locked."""
        signature = file_signature(self.path)
        if signature == self._signature:
            return
        with self._lock:
            if signature == self._signature:
                return
            try:
                rows = self._read() if signature else []
            except duckdb.Error:
                return
            self._records = {r["key_id"]: r for r in rows}
            self._verified = {}
            self._signature = signature


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute`; at most
    `keys` buckets are kept (full ones, which hold nothing, are dropped first)."""

    def __init__(self, per_minute: float, burst: int, keys: int = 100_000):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.keys = keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a request may go now (and it uses a token), else the seconds until one may."""
        with self._lock:
            tokens, now = self._refill(key)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            return (1.0 - tokens) / self.rate

    def wait(self, key: str) -> float:
        """Like `take`, but leaves the token: the seconds until `key` has one, 0 if it has."""
        with self._lock:
            tokens, _ = self._refill(key)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _refill(self, key: str) -> tuple[float, float]:
        now = time.monotonic()
        if key not in self._buckets and len(self._buckets) >= self.keys:
            self._prune(now)
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        self._buckets[key] = (tokens, now)
        return tokens, now

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled; if none has, the oldest half."""
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for k in full or sorted(self._buckets, key=lambda k: self._buckets[k][1])[: self.keys // 2]:
            del self._buckets[k]

    @staticmethod
    def retry_after(wait: float) -> str:
        """A Retry-After header value: whole seconds, at least one."""
        return str(max(1, math.ceil(wait)))


class KeyGuard:
    """Checks keys for client addresses, slowing guesses without locking out valid keys.

    Each address has a budget of failed keys (`failed_per_minute`, `failed_burst`). Once it
    is spent, a key already verified (a hash lookup) still passes at once; any other key from
    that address costs a scrypt check at most once per refill interval per key id (unknown
    ids share one slot), and is answered 429 otherwise. A valid key is thus never refused
    for someone else's guessing, and a guesser gets `failed_per_minute` checks a minute.
    """

    def __init__(self, keys: KeyStore, failed_per_minute: float, failed_burst: int, per_minute: float, burst: int):
        self.keys = keys
        self.failed = RateLimiter(failed_per_minute, failed_burst)
        self.paced = RateLimiter(failed_per_minute, 1)
        self.requests = RateLimiter(per_minute, burst)

    def check(self, key: str | None, address: str) -> Caller:
        """The caller `key` speaks for, within its rate limit; raises `ServeError`."""
        if not key:
            raise ServeError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)")
        caller = self.keys.cached(key)
        if caller is None:
            if self.failed.wait(address):
                wait = self.paced.take(f"{address}|{self.keys.known_id(key) or '?'}")
                if wait:
                    raise ServeError(429, "rate_limited", "too many failed API keys from this address", wait)
            caller = self.keys.verify(key)
        if caller is None:
            self.failed.take(address)
            raise ServeError(401, "unauthorized", "the API key is not valid or was revoked")
        wait = self.requests.take(caller.key_id)
        if wait:
            raise ServeError(429, "rate_limited", "too many requests for this key", wait)
        return caller


class TrustedProxies:
    """The addresses (or networks) of proxies whose `X-Forwarded-For` is believed."""

    def __init__(self, trusted: Iterable[str] = ()):
        self.networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the
        nearest address in `X-Forwarded-For` that is not a trusted proxy itself."""
        address = peer or "unknown"
        if not forwarded_for or not self.trusts(address):
            return address
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            address = hop
            if not self.trusts(hop):
                break
        return address
