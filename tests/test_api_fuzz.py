"""A schemathesis fuzz run of the API's OpenAPI schema against a real server: no input may
get a 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

import pytest

from qa.serve.auth import KeyStore
from qa.serve.models import ApiLimits
from tests.api_server import LiveServer, api_app, build_store, private_docs, public_docs

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("api-fuzz")
    hypothesis.configuration.set_hypothesis_home_dir(str(tmp_path_factory.mktemp("hypothesis")))
    catalog = build_store(root, embedder, public_docs() + private_docs())
    key = KeyStore(root / "keys.duckdb").create("eid_b2", ["github:acme/Vault"])[1]
    limits = ApiLimits(rate_per_minute=60000, burst=10000)
    with LiveServer(api_app(root, embedder, limits=limits)) as server:
        yield server, key
    catalog.close()


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_5xx(fuzz_server):
    server, key = fuzz_server
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation in operations:
        check_operation(operation.as_strategy(modes[0]), key, valid_model=True)
        try:
            check_operation(operation.as_strategy(modes[1]), key, valid_model=False)
        except hypothesis.errors.Unsatisfiable:
            assert not (operation.body or operation.path_parameters), operation.label


def check_operation(strategy, key: str, valid_model: bool) -> None:
    """Send generated cases with and without the key; every answer is < 500 and errors are JSON.
    With `valid_model`, chat requests name the served model, so they reach the answerer."""

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def run(case):
        if valid_model and case.path == "/v1/chat/completions" and isinstance(case.body, dict):
            case.body["model"] = "quarry"
        for headers in ({"Authorization": f"Bearer {key}"}, {}):
            response = case.call(headers=headers, timeout=60)
            assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["type"], response.text

    run()
