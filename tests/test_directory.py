"""DirectoryConnector: employee and customer CSV exports, header aliases, bad rows, cursors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from connectors.directory import DirectoryConnector
from tests.conftest import HERB, pull_all

HERB_CORPUS = HERB / "corpus"
FIXTURES = Path(__file__).parent / "fixtures" / "directory"




@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "directory"
    shutil.copytree(FIXTURES, root)
    return root


def test_employees_become_people():
    docs, failures, _ = pull_all(DirectoryConnector(FIXTURES))
    assert failures == []
    hannah = docs["eid_9b023657"]
    assert hannah.id == "directory:eid_9b023657"
    assert hannah.kind == "person"
    assert hannah.title == "Hannah Taylor"
    assert hannah.text == "Hannah Taylor, VP of Engineering, San Francisco, org slack"
    assert hannah.people == ["eid_9b023657"]
    assert hannah.container == "slack"
    assert hannah.meta == {
        "name": "Hannah Taylor",
        "role": "VP of Engineering",
        "location": "San Francisco",
        "org": "slack",
        "manager_id": "",
    }
    david = docs["eid_e96d2f38"]
    assert david.text == (
        "David Williams, Engineering Lead, Remote, org slack, "
        "reports to Hannah Taylor (eid_9b023657)"
    )
    assert david.meta["manager_id"] == "eid_9b023657"


def test_customers_become_customers():
    docs, _, _ = pull_all(DirectoryConnector(FIXTURES / "customers.csv"))
    assert len(docs) == 4
    frank = docs["CUST-0001"]
    assert frank.kind == "customer"
    assert frank.title == "Frank Lewis"
    assert frank.text == "Frank Lewis, Product Manager at BlueWave"
    assert frank.container == "BlueWave"
    assert frank.people == ["CUST-0001"]
    assert frank.meta == {"name": "Frank Lewis", "role": "Product Manager", "company": "BlueWave"}


def test_header_aliases_delimiters_and_extra_columns(tmp_path):
    (tmp_path / "hr.csv").write_text(
        "\ufeffEmployee ID;First Name;Last Name;Job Title;Department;Office;Email\n"
        "E-7;Ada;Byron;Analyst;Finance;Leeds;ada@example.com\n",
        encoding="utf-8",
    )
    (tmp_path / "crm.csv").write_text("Contact ID,Name,Title,Company Name\nC-1,Bo Li,CIO\n")
    (tmp_path / "accounts.csv").write_text("id,name,company\nA-1,Cy Ng,Initech\n")
    docs, failures, _ = pull_all(DirectoryConnector(tmp_path))
    assert failures == []
    ada = docs["E-7"]
    assert ada.kind == "person"
    assert ada.title == "Ada Byron"
    assert ada.text == "Ada Byron, Analyst, Leeds, org Finance"
    assert ada.meta == {
        "name": "Ada Byron",
        "role": "Analyst",
        "location": "Leeds",
        "org": "Finance",
        "manager_id": "",
        "first_name": "Ada",
        "last_name": "Byron",
        "email": "ada@example.com",
    }
    assert docs["C-1"].kind == "customer"
    assert docs["C-1"].text == "Bo Li, CIO"
    assert docs["C-1"].meta == {"name": "Bo Li", "role": "CIO", "company": ""}
    assert docs["C-1"].container is None
    assert docs["A-1"].kind == "customer"
    assert docs["A-1"].text == "Cy Ng at Initech"


def test_bad_rows_fail_and_duplicates_keep_the_last(tmp_path):
    (tmp_path / "employees.csv").write_text(
        "employee_id,name,role,location,org,manager_id\n"
        "eid_1,Ann One,Engineer,Oslo,slack,\n"
        ",No Id,Engineer,Oslo,slack,\n"
        "eid_2,Bad, Row,Engineer,Oslo,slack,eid_1\n"
        "eid_1,Ann Again,Manager,Oslo,slack,\n"
        '"eid_3","Cal ""C"" Three","Engineer","Oslo","slack","eid_1"\n'
    )
    docs, failures, _ = pull_all(DirectoryConnector(tmp_path))
    assert set(docs) == {"eid_1", "eid_3"}
    assert docs["eid_1"].title == "Ann Again"
    assert docs["eid_3"].title == 'Cal "C" Three'
    assert docs["eid_3"].text.endswith("reports to Ann Again (eid_1)")
    reasons = {failure.native_id: failure.reason for failure in failures}
    assert set(reasons) == {"employees.csv#2", "employees.csv#3", "employees.csv#4"}
    assert "no employee_id" in reasons["employees.csv#3"]
    assert "7 fields" in reasons["employees.csv#4"]
    assert "duplicate id eid_1" in reasons["employees.csv#2"]
    assert "line 5" in reasons["employees.csv#2"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"product,price\nwidget,3\n", "no id column"),
        (b"employee_id,role\neid_1,Engineer\n", "no name column"),
        (b"employee_id,name,name\neid_1,A,B\n", "repeats a column"),
        ("customer_id,name\nC1,Jos\xe9\n".encode("latin-1"), "utf-8"),
        (b"\x00\x01\x02\x03", "binary"),
        (b"", "empty file"),
    ],
)
def test_unreadable_files_fail_and_the_rest_goes_on(tmp_path, content, reason):
    (tmp_path / "bad.csv").write_bytes(content)
    shutil.copy(FIXTURES / "customers.csv", tmp_path)
    docs, failures, cursor = pull_all(DirectoryConnector(tmp_path))
    assert len(docs) == 4
    assert [(failure.source, failure.native_id) for failure in failures] == [
        ("directory", "bad.csv")
    ]
    assert reason.lower() in failures[0].reason.lower()
    assert set(cursor["files"]) == {"bad.csv", "customers.csv"}


def test_unchanged_files_are_not_yielded_again_and_changed_ones_are(folder):
    connector = DirectoryConnector(folder)
    docs, _, cursor = pull_all(connector)
    assert len(docs) == 9
    json.dumps(cursor)
    assert pull_all(connector, cursor)[0] == {}
    customers = folder / "customers.csv"
    customers.write_text(customers.read_text() + "CUST-0005,Eve Stone,CEO,Umbrella\n")
    os.utime(customers, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    changed, _, next_cursor = pull_all(connector, cursor)
    assert set(changed) == {"CUST-0001", "CUST-0002", "CUST-0003", "CUST-0004", "CUST-0005"}
    assert next_cursor["files"]["employees.csv"] == cursor["files"]["employees.csv"]


def test_list_ids_after_a_deletion(folder):
    connector = DirectoryConnector(folder)
    assert len(set(connector.list_ids())) == 9
    (folder / "customers.csv").unlink()
    assert set(connector.list_ids()) == {
        "eid_9b023657",
        "eid_e96d2f38",
        "eid_234b3360",
        "eid_08841d48",
        "eid_fc0cd4cb",
    }


@pytest.mark.skipif(not (HERB_CORPUS / "directory").is_dir(), reason="HERB corpus not present")
def test_herb_directory_reads_without_failures():
    docs, failures, _ = pull_all(DirectoryConnector(HERB_CORPUS / "directory"))
    kinds = [doc.kind for doc in docs.values()]
    assert failures == []
    assert kinds.count("person") == 530 and kinds.count("customer") == 120
    people = [doc for doc in docs.values() if doc.kind == "person"]
    assert all(set(doc.meta) == {"name", "role", "location", "org", "manager_id"} for doc in people)
