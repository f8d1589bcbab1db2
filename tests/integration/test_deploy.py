"""The container stack, tested without a Docker engine: the compose file is valid against the
Compose specification's JSON schema; services, ports, volumes and the configuration files they
mount agree with each other; the commands the containers run exist with the flags they pass;
and the project installs as the image installs it (a built wheel, not the source tree) with its
commands and package data working."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.timeouts import COMMAND_TIMEOUT_S, PIPELINE_TIMEOUT_S

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict] = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
OUR_IMAGE = {name for name, service in SERVICES.items() if "build" in service}
BIN = Path(sys.executable).parent


def _default(value: str) -> str:
    """``${VAR:-default}`` → default (what compose uses when .env does not set it)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def _ports(service: dict) -> list[tuple[int, int]]:
    pairs = []
    for spec in service.get("ports", []):
        host, container = _default(spec).rsplit(":", 1)
        pairs.append((int(host), int(container)))
    return pairs


def _health_url(service: dict) -> str:
    test = " ".join(service["healthcheck"]["test"])
    return re.search(r"http://127\.0\.0\.1:\d+\S*?(?=['\"\s]|$)", test).group(0)


def _mounts(service: dict) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]


def test_compose_file_is_valid_against_the_compose_specification():
    schema_file = (
        importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []
    # The schema is strict: it does reject a misspelt key.
    broken = {**COMPOSE, "services": {**SERVICES, "app": {**SERVICES["app"], "helthcheck": {}}}}
    assert any("helthcheck" in e.message for e in validator.iter_errors(broken))
    assert set(SERVICES) == {"app", "mlflow", "airflow", "prometheus", "grafana"}


def test_every_service_has_a_healthcheck_on_the_port_it_publishes():
    host_ports = []
    for name, service in SERVICES.items():
        check = service.get("healthcheck")
        assert check and check["test"][0] == "CMD", f"{name} has no exec-form healthcheck"
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
        published = _ports(service)
        assert len(published) == 1, name
        url = _health_url(service)
        assert f":{published[0][1]}/" in url, (name, url, published)
        host_ports.append(published[0][0])
        assert service.get("restart") == "unless-stopped", name
    assert len(set(host_ports)) == len(host_ports), "two services publish the same host port"


def test_volumes_are_declared_used_and_bind_mounts_exist():
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for source, target in _mounts(service):
            assert target.startswith("/"), (name, target)
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    # The app reads the warehouse the pipeline (in Airflow) publishes: one shared volume.
    app, airflow = dict(_mounts(SERVICES["app"])), dict(_mounts(SERVICES["airflow"]))
    assert app["sara-data"] == airflow["sara-data"] == "/sara"
    for name in OUR_IMAGE:  # the image creates these for its non-root user
        for source, target in _mounts(SERVICES[name]):
            if not source.startswith("."):
                assert target in DOCKERFILE, f"{target} is not created in the image"


def test_the_configuration_files_agree_with_the_services():
    scrape = yaml.safe_load((REPO / "monitoring/prometheus.yml").read_text(encoding="utf-8"))
    (target,) = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in SERVICES and int(port) == _ports(SERVICES[host])[0][1]
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert dict(_mounts(SERVICES["prometheus"]))["./monitoring/prometheus.yml"] == (
        "/etc/prometheus/prometheus.yml"
    )
    grafana_mounts = dict(_mounts(SERVICES["grafana"]))
    provisioning = REPO / "monitoring/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    url = datasource["datasources"][0]["url"]
    assert url == f"http://prometheus:{_ports(SERVICES['prometheus'])[0][1]}"
    dashboards = yaml.safe_load((provisioning / "dashboards/sara.yml").read_text())
    path = dashboards["providers"][0]["options"]["path"]
    assert grafana_mounts["./monitoring/grafana/dashboards"] == path
    assert grafana_mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    environment = SERVICES["grafana"]["environment"]
    home = environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "monitoring/grafana/dashboards" / Path(home).name).is_file()
    assert _default(environment["GF_AUTH_ANONYMOUS_ENABLED"]) == "false"
    assert ":?" in environment["GF_SECURITY_ADMIN_PASSWORD"], "the password must come from .env"
    mlflow_port = _ports(SERVICES["mlflow"])[0][1]
    for name in ("app", "airflow"):
        env = SERVICES[name]["environment"]
        assert env["SARA_MLFLOW_TRACKING_URI"] == f"http://mlflow:{mlflow_port}", name
        assert SERVICES[name]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    allowed = next(a for a in SERVICES["mlflow"]["command"] if a.startswith("--allowed-hosts"))
    assert f"mlflow:{mlflow_port}" in allowed.split("=", 1)[1].split(",")
    airflow_env = SERVICES["airflow"]["environment"]
    dags = dict(_mounts(SERVICES["airflow"]))["./pipeline/dags"]
    assert airflow_env["AIRFLOW__CORE__DAGS_FOLDER"] == dags
    assert (REPO / "pipeline/dags/sara_pipeline.py").is_file()


def test_every_variable_the_compose_file_reads_is_documented_in_env_example():
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    variables = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(re.findall(r"^#?\s*([A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert variables - documented == set()


@pytest.mark.parametrize("name", sorted(OUR_IMAGE))
def test_commands_exist_with_the_flags_they_pass(name):
    """The command of each service built from SARA's image is a console script of a package
    the image installs, and its subcommand accepts every flag the compose file passes."""
    command = SERVICES[name]["command"]
    executable, subcommand = command[0], command[1]
    build = SERVICES[name]["build"]
    extras = build.get("args", {}).get("SARA_EXTRAS", "")
    installed = _image_distributions(extras)
    scripts = {
        ep.name: ep.dist.name
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.dist is not None
    }
    assert scripts.get(executable, "").lower() in installed, (executable, installed)
    env = {**os.environ, "AIRFLOW_HOME": "/tmp/sara-airflow-help", "COLUMNS": "200"}
    shown = subprocess.run(
        [str(BIN / executable), subcommand, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    for flag in [a.split("=")[0] for a in command[2:] if a.startswith("--")]:
        pattern = rf"(?<![\w-]){re.escape(flag)}(?![\w-])"
        assert re.search(pattern, shown.stdout), f"`{executable} {subcommand}` has no {flag}"


def _image_distributions(extras: str) -> set[str]:
    """SARA and the distributions the image's `pip install .[extras]` brings in directly."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in filter(None, extras.split(",")):
        wanted += project["optional-dependencies"][extra]
    names = {re.split(r"[\[<>=~! ;]", w, maxsplit=1)[0].lower() for w in wanted}
    # A dependency's own console scripts may come from its core distribution.
    names |= {f"{n}-core" for n in names}
    return {"sara", *names}


def test_the_dockerfile_is_pinned_slim_non_root_and_copies_every_package():
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILE).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    assert "--constraint constraints.txt" in DOCKERFILE
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*CMD", DOCKERFILE, re.M | re.S)
    copied = {path.rstrip("/") for path in _copied()}
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    for path in copied:
        assert (REPO / path).exists(), path
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".sara", ".venv", ".git"} <= set(ignored)


def _copied() -> list[str]:
    """What the Dockerfile copies into the build stage (its build context)."""
    return [
        path
        for line in re.findall(r"^COPY (?!--)(.+) \S+$", DOCKERFILE, re.M)
        for path in line.split()
    ]


@pytest.fixture(scope="module")
def image_install(tmp_path_factory):
    """SARA installed as the image installs it: a wheel built from only what the Dockerfile
    copies, in a fresh environment whose dependencies come from this one (no source tree on
    the path)."""
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    for path in _copied():
        source = REPO / path.rstrip("/")
        if source.is_dir():
            shutil.copytree(source, context / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            context.mkdir(exist_ok=True)
            shutil.copy2(source, context / path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "wheel"),
         str(context)],
        check=True, capture_output=True, timeout=PIPELINE_TIMEOUT_S,
    )  # fmt: skip
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT_S,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = (root / "wheel").glob("sara-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
         "--target", purelib, str(wheel)],
        check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S,
    )  # fmt: skip
    return python


def test_the_installed_package_runs_without_the_source_tree(image_install, tmp_path):
    python = image_install
    probe = (
        "import json, sara, monitoring.dashboards\n"
        "from assistant.lexicon import load_vocabulary\n"
        "from data.spec import load_spec\n"
        "from data.catalogue import load_catalogue\n"
        "spec = load_spec()\n"
        "print(json.dumps({'sara': sara.__file__, 'spec': spec.name,\n"
        "                  'interventions': len(load_catalogue(spec).interventions),\n"
        "                  'vocabulary': len(load_vocabulary())}))\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SARA_HOME": str(tmp_path / "ws")}
    found = subprocess.run(
        [python, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_S,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    info = json.loads(found.stdout.strip().splitlines()[-1])
    assert str(REPO) not in info["sara"] and info["spec"]
    assert info["interventions"] > 0 and info["vocabulary"] > 0
    for args in (["serve", "--help"], ["pipeline", "run", "--help"], ["keys", "create", "--help"]):
        shown = subprocess.run(
            [python, "-m", "sara.cli", *args], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=COMMAND_TIMEOUT_S,
        )  # fmt: skip
        assert shown.returncode == 0, (args, shown.stderr[-2000:])
