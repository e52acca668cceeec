"""API keys, per-key rate limits and a limit on failed key guesses per client address.

A key reads `quarry_<key id>_<secret>`. Only a salted scrypt hash of the secret is kept, in
its own DuckDB file beside the store. The server reads that file only for a moment, when its
size or modification time changes, so `quarry keys create / revoke` can write it while the
server runs; a revoked key is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pydantic import BaseModel

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

    def verify(self, key: str) -> Caller | None:
        """The caller a key speaks for; None for a malformed, unknown or revoked key."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        self._reload()
        record = self._records.get(key_id)
        if record is None or record["revoked_at"] is not None:
            return None
        digest = hashlib.sha256(key.encode()).hexdigest()
        if self._verified.get(digest) != key_id:
            expected = hash_secret(secret, bytes.fromhex(record["salt"]))
            if not hmac.compare_digest(expected, record["hash"]):
                return None
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[digest] = key_id
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
    """A token bucket per key: `burst` requests at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int):
        self.rate = per_minute / 60.0
        self.burst = burst
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
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        self._buckets[key] = (tokens, now)
        return tokens, now

    @staticmethod
    def retry_after(wait: float) -> str:
        """A Retry-After header value: whole seconds, at least one."""
        return str(max(1, math.ceil(wait)))
