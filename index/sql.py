"""SQL of the chunk store's filters: literals, a query's filters, and ACL filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from connectors.records import RESERVED
from index.records import Query


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    """A SQL list of string literals."""
    return "(" + ", ".join(quote(v) for v in values) + ")"


def filter_sql(query: Query, visible: str | None = None) -> str | None:
    """The SQL filter for a query's sources, containers, people and dates, and `visible`
    (the ACL filter of its principals)."""
    listed = {"source": query.sources, "kind": query.kinds, "container": query.containers, "group_id": query.group_ids}
    clauses = [f"{column} IN {in_list(values)}" for column, values in listed.items() if values]
    if query.people:
        clauses.append(f"array_has_any(people, [{', '.join(quote(p) for p in query.people)}])")
    if query.since:
        clauses.append(f"created_at >= {timestamp(query.since)}")
    if query.until:
        clauses.append(f"created_at <= {timestamp(query.until)}")
    if visible is not None:
        clauses.append(visible)
    return " AND ".join(clauses) or None


def acl_sql(principals: Sequence[str], refs: Sequence[str] = ()) -> str:
    """The SQL filter for rows readable by everyone, one of `principals` or the readers of
    one of the container `refs`. Reserved principals (`quarry:...`) are no caller's: they
    are dropped from `principals`, so an ACL of `quarry:unresolved` matches nobody."""
    allowed = ["*", *callers(principals), *refs]
    return f"array_has_any(acl, [{', '.join(quote(p) for p in allowed)}])"


def callers(principals: Sequence[str]) -> list[str]:
    """The principals a caller may hold: reserved ones (`quarry:...`) are nobody's."""
    return [p for p in principals if not p.startswith(RESERVED)]


def timestamp(value: datetime) -> str:
    """A SQL timestamp literal."""
    return f"timestamp '{value.strftime('%Y-%m-%d %H:%M:%S')}'"
