"""The central stack's compose file validates with ``docker-compose config`` and is complete,
the default (single box) and the ``distributed`` profile alike.

Debian's docker-compose (1.29) validates and interpolates a compose file without a Docker
engine, so the file is checked exactly as an operator's ``docker compose up`` would read it,
with ``.env.example`` as its settings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers_units import REPO

COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SERVER_EXAMPLE = REPO / "deploy" / "server" / "server.example.yaml"
SERVER_DISTRIBUTED = REPO / "deploy" / "server" / "server.distributed.yaml"
NGINX_CONF = COMPOSE_DIR / "nginx" / "lobbywatch.conf"
SINGLE_BOX = {"server", "postgres", "influxdb", "grafana"}
DISTRIBUTED = {
    "nats-1",
    "nats-2",
    "nats-3",
    "server-ingest-1",
    "server-ingest-2",
    "server-writer",
    "server-worker-1",
    "server-worker-2",
    "proxy",
}


def _compose(*args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "docker-compose is not installed, so deploy/compose/compose.yaml cannot be validated; "
            "install Debian's 'docker-compose' package (scripts/setup.sh does)"
        )
    cmd = [exe, "--project-directory", str(COMPOSE_DIR), "-f", str(COMPOSE)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    # A clean environment: nothing from the caller's shell may fill in a variable.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False, env=env)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The compose file as docker-compose resolves it with .env.example."""
    result = _compose("--profile", "broker", "config")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


@pytest.mark.real
@pytest.mark.parametrize("profile", [None, "distributed"])
def test_compose_config_is_valid(profile: str | None) -> None:
    result = _compose(*(["--profile", profile] if profile else []), "config", "-q")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    assert not result.stderr.strip(), f"docker-compose config warned:\n{result.stderr}"


@pytest.mark.real
def test_compose_refuses_to_run_without_secrets(tmp_path: Path) -> None:
    """No built-in default password: with an empty .env compose names what is missing."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_env_example_holds_no_real_secrets() -> None:
    secret = re.compile(r"(PASSWORD|TOKEN|SECRET)")
    found = 0
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        if secret.search(key):
            found += 1
            assert value.startswith("CHANGE-ME"), f"{key} in .env.example must be a CHANGE-ME placeholder"
    assert found >= 4


def test_env_example_and_secrets_are_git_ignored() -> None:
    ignored = (COMPOSE_DIR / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored
    assert "secrets/" in ignored


def test_central_services(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == SINGLE_BOX | {"mosquitto", "prometheus"} | DISTRIBUTED
    # The default (no profile) is the single box, unchanged by the other profiles.
    assert {name for name, service in services.items() if not service.get("profiles")} == SINGLE_BOX
    assert services["postgres"]["image"] == "postgres:16"
    assert services["influxdb"]["image"].startswith("influxdb:2")
    assert services["grafana"]["image"].startswith("grafana/grafana")
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        if name != "mosquitto":  # needs a broker credential to probe; see the comment there
            assert service["healthcheck"]["test"], name
    assert services["mosquitto"]["profiles"] == ["broker"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    for name in DISTRIBUTED:
        assert services[name]["profiles"] == ["distributed"], name
    for dep in ("postgres", "influxdb"):
        assert services["server"]["depends_on"][dep]["condition"] == "service_healthy"


def test_server_talks_to_postgres_and_influx_v1(config: dict[str, Any]) -> None:
    server = config["services"]["server"]
    env = server["environment"]
    assert env["LOBBYWATCH_SERVER_SQL_URL"].startswith("postgresql+psycopg://lobbywatch:")
    assert env["LOBBYWATCH_SERVER_SQL_URL"].endswith("@postgres:5432/lobbywatch")
    assert env["LOBBYWATCH_SERVER_INFLUX_URL"] == "http://influxdb:8086"
    influx = config["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["LOBBYWATCH_SERVER_INFLUX_TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    # The server's v1 database is the bucket (InfluxDB 2's DBRP mapping), as in the example.
    example = yaml.safe_load(SERVER_EXAMPLE.read_text(encoding="utf-8"))
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] == example["influx"]["database"]
    assert example["influx"]["create_database"] is False
    grafana = config["services"]["grafana"]["environment"]
    assert grafana["INFLUX_DB"] == example["influx"]["database"]
    assert grafana["INFLUX_URL"] == "http://influxdb:8086"
    # Grafana reads with the init script's read-only v1 user, never the operator token.
    assert grafana["INFLUX_USER"] == influx["LOBBYWATCH_GRAFANA_INFLUX_USER"]
    assert grafana["INFLUX_PASSWORD"] == influx["LOBBYWATCH_GRAFANA_INFLUX_PASSWORD"]
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] not in grafana.values()


def test_grafana_provisioning_reads_what_compose_sets(config: dict[str, Any]) -> None:
    """Every $VARIABLE in the provisioning files is set in Grafana's environment."""
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    files = sorted(provisioning.rglob("*.yaml"))
    assert files, f"no provisioning files under {provisioning}"
    env = config["services"]["grafana"]["environment"]
    for path in files:
        text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        for name in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text):
            assert name in env, f"{path.relative_to(REPO)} uses ${name}; compose does not set it"


def _bind_sources(config: dict[str, Any], service: str) -> dict[str, Path]:
    """Target path -> host path of a service's bind mounts."""
    out: dict[str, Path] = {}
    for volume in config["services"][service].get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        if source.startswith("/"):
            out[target] = Path(source)
    return out


def test_mounts_point_into_this_repository(config: dict[str, Any]) -> None:
    grafana = _bind_sources(config, "grafana")
    assert grafana["/etc/grafana/provisioning"] == REPO / "deploy" / "grafana" / "provisioning"
    assert grafana["/var/lib/grafana/dashboards/lobbywatch"] == REPO / "dashboards" / "json"
    server = _bind_sources(config, "server")
    assert server["/etc/lobbywatch/server.yaml"] == SERVER_EXAMPLE
    assert server["/etc/lobbywatch/halls"] == REPO / "deploy" / "examples"
    assert SERVER_EXAMPLE.is_file()
    assert (REPO / "deploy" / "examples").is_dir()
    influx = _bind_sources(config, "influxdb")
    assert (influx["/docker-entrypoint-initdb.d"] / "10-lobbywatch-v1.sh").is_file()
    assert _bind_sources(config, "mosquitto")["/mosquitto/config"] == REPO / "deploy" / "mosquitto"


def test_server_example_config_loads(tmp_path: Path) -> None:
    """The example is a valid SERVER.yaml, laid out as the compose file mounts it."""
    from server.core.config import load_server_settings

    etc = tmp_path / "etc"
    (etc / "halls").mkdir(parents=True)
    shutil.copy(SERVER_EXAMPLE, etc / "server.yaml")
    for hall in (REPO / "deploy" / "examples").glob("*.yaml"):
        shutil.copy(hall, etc / "halls" / hall.name)
    settings = load_server_settings(etc / "server.yaml")
    assert settings.listen.host == "0.0.0.0"
    assert settings.sql_url.startswith("sqlite:////var/lib/lobbywatch/")
    assert [p.name for p in settings.halls] == ["telecom-hall.yaml", "bank-branch.yaml"]
    assert settings.bootstrap_tokens[0].token_file == etc / "secrets" / "admin.token"


def test_dockerfile_copies_every_packaged_module() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE))
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in packages:
        assert package in copied, f"Dockerfile does not COPY {package}/ (pyproject packages it)"
    for source in copied:
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
    assert '".[server]"' in dockerfile
    assert re.search(r"^USER lobbywatch$", dockerfile, flags=re.MULTILINE)


def test_prometheus_reads_the_shipped_rules_and_scrapes_the_server(config: dict[str, Any]) -> None:
    """The monitoring profile mounts deploy/prometheus/ (scrape config and alerting rules), and
    the example scrape config's server target is the compose service."""
    prom = config["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in prom["volumes"]]
    assert any(m.removesuffix(":ro").endswith("/deploy/prometheus:/etc/prometheus") for m in mounts), mounts
    example = COMPOSE_DIR.parent / "prometheus" / "prometheus.yml"
    scrape = yaml.safe_load(example.read_text(encoding="utf-8"))
    [server_job] = [j for j in scrape["scrape_configs"] if j["job_name"] == "lobbywatch-server"]
    assert server_job["static_configs"][0]["targets"] == ["server:8000"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    assert isinstance(command, list)
    return [str(c) for c in command]


def test_distributed_profile_runs_the_roles_on_a_nats_cluster(config: dict[str, Any]) -> None:
    """Three JetStream nodes routed to each other; 2 ingest+api replicas, 1 writer and 2
    workers, each ``server run --roles``, on the distributed SERVER.yaml, PostgreSQL and
    InfluxDB."""
    services = config["services"]
    nodes = sorted(n for n in DISTRIBUTED if n.startswith("nats-"))
    for node in nodes:
        nats = services[node]
        assert nats["image"].startswith("nats:2.")
        cmd = _command(nats)
        assert "--jetstream" in cmd
        assert cmd[cmd.index("--server_name") + 1] == node
        routes = cmd[cmd.index("--routes") + 1].split(",")
        assert sorted(routes) == [f"nats://{n}:6222" for n in nodes if n != node]
        assert [v.split(":")[1] for v in nats["volumes"]] == ["/data"]
        assert nats["healthcheck"]["test"]
    roles = {
        name: _command(services[name])[_command(services[name]).index("--roles") + 1]
        for name in DISTRIBUTED
        if name.startswith("server-")
    }
    assert roles == {
        "server-ingest-1": "ingest,api",
        "server-ingest-2": "ingest,api",
        "server-writer": "writer",
        "server-worker-1": "worker",
        "server-worker-2": "worker",
    }
    single = services["server"]
    for name in roles:
        service = services[name]
        assert _command(service)[:3] == ["lobbywatch", "server", "run"]
        assert service["image"] == single["image"]
        assert service["environment"] == single["environment"]  # PostgreSQL and InfluxDB as the single box
        assert _bind_sources(config, name)["/etc/lobbywatch/server.yaml"] == SERVER_DISTRIBUTED
        for dep in ("postgres", "influxdb", *nodes):
            assert service["depends_on"][dep]["condition"] == "service_healthy"
    # The proxy publishes the single server's port (the profile runs with --scale server=0).
    proxy = services["proxy"]
    assert proxy["ports"] == single["ports"]
    assert str(proxy["ports"][0]).endswith(":8000/tcp")
    assert _bind_sources(config, "proxy")["/etc/nginx/conf.d/default.conf"] == NGINX_CONF


def test_proxy_spreads_over_both_ingest_replicas() -> None:
    upstream = re.search(r"upstream lobbywatch \{(.*?)\}", NGINX_CONF.read_text(encoding="utf-8"), re.DOTALL)
    assert upstream is not None
    assert re.findall(r"server (\S+):8000", upstream.group(1)) == ["server-ingest-1", "server-ingest-2"]


def test_distributed_server_config_loads(tmp_path: Path) -> None:
    """The distributed example is a valid SERVER.yaml on the compose file's NATS services;
    its processes take their roles from the command line (``--roles``)."""
    from server.core.config import load_server_settings

    etc = tmp_path / "etc"
    (etc / "halls").mkdir(parents=True)
    shutil.copy(SERVER_DISTRIBUTED, etc / "server.yaml")
    for hall in (REPO / "deploy" / "examples").glob("*.yaml"):
        shutil.copy(hall, etc / "halls" / hall.name)
    settings = load_server_settings(etc / "server.yaml")
    assert settings.bus.kind == "jetstream"
    assert settings.bus.replicas == 3
    assert settings.bus.servers == [f"nats://nats-{i}:4222" for i in (1, 2, 3)]
    assert settings.sql_url.startswith("postgresql+psycopg://")
    single = yaml.safe_load(SERVER_EXAMPLE.read_text(encoding="utf-8"))
    assert settings.influx.database == single["influx"]["database"]
    assert settings.influx.create_database is False
    assert [p.name for p in settings.halls] == ["telecom-hall.yaml", "bank-branch.yaml"]
    assert settings.bootstrap_tokens[0].token_file == etc / "secrets" / "admin.token"
