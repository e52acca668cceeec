"""People (HR) and customer (CRM) directory exports as CSV files."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from connectors.files import FileRecordsConnector, UnreadableFile, read_text
from connectors.records import Failure, SourceDoc, doc_id

EXTENSIONS = (".csv",)
PERSON_FIELDS = ("name", "role", "location", "org", "manager_id")
CUSTOMER_FIELDS = ("name", "role", "company")
PERSON_IDS = ("employee_id", "emp_id", "eid", "person_id", "staff_id", "worker_id", "user_id")
CUSTOMER_IDS = ("customer_id", "cust_id", "contact_id", "client_id", "account_contact_id")
GENERIC_IDS = ("id", "email", "email_address", "mail")
ALIASES = {
    "name": (
        "name",
        "full_name",
        "display_name",
        "employee_name",
        "customer_name",
        "contact_name",
        "person_name",
    ),
    "role": ("role", "title", "job_title", "position", "job"),
    "location": ("location", "office", "city", "site", "work_location"),
    "org": (
        "org",
        "organization",
        "organisation",
        "department",
        "dept",
        "team",
        "division",
        "business_unit",
    ),
    "manager_id": (
        "manager_id",
        "manager",
        "reports_to",
        "manager_employee_id",
        "supervisor_id",
        "supervisor",
    ),
    "company": (
        "company",
        "company_name",
        "account",
        "account_name",
        "organization",
        "organisation",
        "customer",
        "client",
    ),
}


class DirectoryError(ValueError):
    """A CSV file that is not a directory export of a known shape."""


@dataclass(frozen=True)
class Layout:
    """How a CSV header maps onto directory fields: the kind of row and each field's column."""

    kind: str
    id_column: str
    columns: dict[str, str]
    header: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return PERSON_FIELDS if self.kind == "person" else CUSTOMER_FIELDS


class DirectoryConnector(FileRecordsConnector):
    """Rows of employee and customer CSV exports under a folder (or one CSV file)."""

    source = "directory"
    extensions = EXTENSIONS

    def read(self, relpath: str) -> list[SourceDoc | Failure]:
        path = self.path_of(relpath)
        try:
            rows, layout = read_rows(read_text(path, self.max_bytes))
        except (UnreadableFile, DirectoryError, csv.Error) as error:
            return [Failure(source=self.source, native_id=relpath, reason=str(error))]
        failures: list[Failure] = []
        found: dict[str, tuple[int, dict[str, str]]] = {}
        for line, size, row in rows:
            ident = (row.get(layout.id_column) or "").strip()
            if size > len(layout.header):
                reason = f"row has {size} fields, the header has {len(layout.header)}"
            elif not ident:
                reason = f"row has no {layout.id_column}"
            else:
                if ident in found:
                    earlier = found.pop(ident)[0]
                    reason = f"duplicate id {ident}: line {earlier} is replaced by line {line}"
                    where = f"{relpath}#{earlier}"
                    failures.append(Failure(source=self.source, native_id=where, reason=reason))
                found[ident] = (line, row)
                continue
            failures.append(
                Failure(source=self.source, native_id=f"{relpath}#{line}", reason=reason)
            )
        names = {ident: field_value(row, layout, "name") for ident, (_, row) in found.items()}
        docs = [self._doc(ident, row, layout, names) for ident, (_, row) in found.items()]
        return [*docs, *failures]

    def _doc(
        self, ident: str, row: dict[str, str], layout: Layout, names: dict[str, str]
    ) -> SourceDoc:
        meta = {name: field_value(row, layout, name) for name in layout.fields}
        mapped = {layout.id_column, *layout.columns.values()}
        meta.update(
            {
                column: (row.get(column) or "").strip()
                for column in layout.header
                if column not in mapped and column not in meta
            }
        )
        container = meta["org"] if layout.kind == "person" else meta["company"]
        return SourceDoc(
            id=doc_id(self.source, ident),
            source=self.source,
            native_id=ident,
            kind=layout.kind,
            title=meta["name"] or ident,
            text=describe(ident, meta, layout.kind, names),
            people=[ident],
            container=container or None,
            meta=meta,
        )


def read_rows(text: str) -> tuple[list[tuple[int, int, dict[str, str]]], Layout]:
    """(line number, number of values, row) of each data row, and the layout the header names.

    A row with fewer values than the header leaves the missing trailing fields empty.
    """
    first_line = text.lstrip().splitlines()[0]
    delimiter = next((d for d in ",;\t|" if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [normalise(column) for column in next(reader)]
    if len(set(header)) != len(header):
        raise DirectoryError(f"header repeats a column: {header}")
    layout = detect_layout(header)
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        rows.append((reader.line_num, len(values), dict(zip(header, values))))
    return rows, layout


def detect_layout(header: list[str]) -> Layout:
    """Whether a header lists people or customers, with the column of each known field."""
    columns = set(header)
    person_id = next((name for name in PERSON_IDS if name in columns), None)
    customer_id = next((name for name in CUSTOMER_IDS if name in columns), None)
    generic_id = next((name for name in GENERIC_IDS if name in columns), None)
    if customer_id and not person_id:
        kind, id_column = "customer", customer_id
    elif person_id:
        kind, id_column = "person", person_id
    elif generic_id:
        is_customer = any(name in columns for name in ("company", "company_name", "customer"))
        kind, id_column = ("customer" if is_customer else "person"), generic_id
    else:
        raise DirectoryError(f"header has no id column (columns: {', '.join(header)})")
    fields = PERSON_FIELDS if kind == "person" else CUSTOMER_FIELDS
    mapped = {}
    for field in fields:
        column = next(
            (name for name in ALIASES[field] if name in columns and name != id_column), None
        )
        if column:
            mapped[field] = column
    if "name" not in mapped and not {"first_name", "last_name"} & columns:
        raise DirectoryError(f"header has no name column (columns: {', '.join(header)})")
    return Layout(kind=kind, id_column=id_column, columns=mapped, header=tuple(header))


def field_value(row: dict[str, str], layout: Layout, field: str) -> str:
    """A field's value in a row ('first_name last_name' when there is no name column)."""
    column = layout.columns.get(field)
    if column:
        return (row.get(column) or "").strip()
    if field == "name":
        parts = (row.get("first_name") or "", row.get("last_name") or "")
        return " ".join(part.strip() for part in parts if part.strip())
    return ""


def describe(ident: str, meta: dict[str, str], kind: str, names: dict[str, str]) -> str:
    """A sentence a reader (or a retriever) can use: who, what role, where, reporting to whom."""
    name = meta["name"] or ident
    if kind == "customer":
        role = f"{name}, {meta['role']}" if meta["role"] else name
        return f"{role} at {meta['company']}" if meta["company"] else role
    parts = [name, meta["role"], meta["location"]]
    if meta["org"]:
        parts.append(f"org {meta['org']}")
    manager = meta["manager_id"]
    if manager:
        parts.append(
            f"reports to {names[manager]} ({manager})"
            if names.get(manager)
            else f"reports to {manager}"
        )
    return ", ".join(part for part in parts if part)


def normalise(column: str) -> str:
    """A header cell as a field name: lower case, runs of spaces and punctuation as '_'."""
    return re.sub(r"[^0-9a-z]+", "_", column.strip().lower()).strip("_")
