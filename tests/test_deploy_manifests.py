"""The deploy/ folder: every YAML parses, the pieces reference each other, the Kubernetes
manifests validate against the API schemas (when `kubernetes-validate` is installed), the
Dockerfile is well formed, and prefect.yaml matches the example config's schedules."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from flows.config import load_config
from flows.deploy import add_deploy_commands, plan_deployments

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "quarry"
KUBERNETES_VERSION = "1.30.0"


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s_objects() -> list[dict]:
    return [d for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"
            for d in documents(p)]


def by_kind(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == kind}


def containers(kind: str = "Deployment") -> list[dict]:
    return [c for o in by_kind(kind).values() for c in o["spec"]["template"]["spec"]["containers"]]


def deploy_args(argv: list[str]) -> argparse.Namespace:
    """Parse a `quarry ... deploy ...` container command with the real deploy parser."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path)
    add_deploy_commands(parser.add_subparsers())
    return parser.parse_args(argv)


def test_every_yaml_parses():
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(paths) >= 9
    for path in paths:
        assert documents(path), path


def test_example_config_is_valid_and_scheduled():
    config = load_config(DEPLOY / "quarry.toml")
    assert config.engine.name == "dask" and config.engine.address == "tcp://dask-scheduler:8786"
    assert all(s.schedule for s in config.sources)


def test_compose_services_and_volumes_reference_each_other():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services, volumes = compose["services"], set(compose["volumes"])
    assert {"prefect-server", "quarry-worker", "dask-scheduler", "dask-worker",
            "quarry-api"} <= set(services)
    used = set()
    for name, service in services.items():
        assert service["image"] == "quarry:latest", name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in volumes, (name, source)
                used.add(source)
    assert used == volumes
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    assert "tcp://dask-scheduler:8786" in services["dask-worker"]["command"]
    assert services["quarry-api"]["ports"] == ["8080:8080"]
    worker = services["quarry-worker"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    args = deploy_args(worker["command"])
    assert args.serve and args.config == Path("/etc/quarry/quarry.toml")
    assert "./quarry.toml:/etc/quarry/quarry.toml:ro" in worker["volumes"]
    assert {"store:/data/store"} <= set(services["quarry-api"]["volumes"])


def test_k8s_objects_are_named_labelled_and_namespaced():
    objects = k8s_objects()
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "PersistentVolumeClaim", "ConfigMap", "Deployment", "Service"} <= kinds
    for o in objects:
        assert o["apiVersion"] and o["metadata"]["name"]
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == NAMESPACE
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == NAMESPACE, o["metadata"]["name"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_k8s_selectors_claims_and_config_resolve():
    deployments = by_kind("Deployment")
    assert {"prefect-server", "quarry-worker", "dask-scheduler", "dask-worker",
            "quarry-api"} <= set(deployments)
    claims, config_maps = set(by_kind("PersistentVolumeClaim")), set(by_kind("ConfigMap"))
    pod_labels = []
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        pod_labels.append(labels)
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (name, mount["name"])
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        assert name in deployments
        assert any(selector.items() <= labels.items() for labels in pod_labels), name
        ports = {p["name"] for c in deployments[name]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name
    config = by_kind("ConfigMap")["quarry-config"]["data"]["quarry.toml"]
    assert config == (DEPLOY / "quarry.toml").read_text()


def test_k8s_commands_match_the_cli_and_services():
    worker = by_kind("Deployment")["quarry-worker"]["spec"]["template"]["spec"]["containers"][0]
    args = deploy_args(worker["args"])
    assert args.serve and args.store == Path("/data/store")
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    workers = by_kind("Deployment")["dask-worker"]
    assert workers["spec"]["replicas"] == 2
    assert "tcp://dask-scheduler:8786" in workers["spec"]["template"]["spec"]["containers"][0][
        "command"]
    assert all(c["image"] == "quarry:latest" for c in containers())


def test_k8s_manifests_validate_against_schemas():
    validate = pytest.importorskip("kubernetes_validate")
    for o in k8s_objects():
        validate.validate(o, KUBERNETES_VERSION, strict=True)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_structure():
    instructions = dockerfile_instructions()
    keywords = [k.upper() for k, _ in instructions]
    assert keywords[0] == "FROM" and instructions[0][1] == "python:3.11-slim"
    for keyword, value in instructions:
        if keyword.upper() == "ADD":
            assert not re.search(r"https?://", value), "ADD of a remote URL"
        if keyword.upper() == "COPY":
            for source in shlex.split(value)[:-1]:
                assert (DEPLOY.parent / source).exists(), source
    runs = [v for k, v in instructions if k.upper() == "RUN"]
    torch = next(i for i, v in enumerate(runs) if "torch==" in v)
    project = next(i for i, v in enumerate(runs) if "-c constraints.txt" in v)
    assert torch < project and "whl/cpu" in runs[torch]
    user = keywords.index("USER")
    assert instructions[user][1].split(":")[0] not in ("root", "0")
    assert user < keywords.index("ENTRYPOINT")
    assert "VOLUME" in keywords


def test_prefect_yaml_matches_the_config_schedules():
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.client.schemas.schedules import CronSchedule

    raw = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(raw)
    plans = {p.name: p for p in plan_deployments(DEPLOY / "quarry.toml", Path("/data/store"))}
    assert {d.name for d in model.deployments} == set(plans)
    for deployment in model.deployments:
        plan = plans[deployment.name]
        module, name = deployment.entrypoint.split(":")
        assert (DEPLOY.parent / module).exists() and name == "ingest"
        [schedule] = deployment.schedules
        assert CronSchedule(cron=schedule.cron).cron == plan.cron
        assert deployment.concurrency_limit.limit == 1
        assert deployment.concurrency_limit.collision_strategy == "ENQUEUE"
        assert deployment.parameters == plan.parameters | {
            "config_path": "/etc/quarry/quarry.toml"
        }
        assert deployment.work_pool.name == "quarry"
