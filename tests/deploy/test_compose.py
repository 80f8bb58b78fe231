"""deploy/compose.yaml, checked without Docker: its structure, commands and variables."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatcher.cli.parser import build_parser
from griddispatch.settings import Settings
from tests.deploy.cluster import DEPLOY
from tests.deploy.support import FOREIGN_VARIABLES, cli_commands, setting_variables

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "griddispatch.env.example"
COMPONENTS = {"dispatcher", "worker", "bot", "api"}
NATS_NODES = ["nats-1", "nats-2", "nats-3"]
# ${NAME:?message} and ${NAME} references that docker compose fills in from its environment.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_]+)(?::\?[^}]*)?\}")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def _griddispatch_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return {
        name: service
        for name, service in services.items()
        if service.get("image", "").startswith("griddispatch")
    }


def _filled(value: object) -> str:
    """Return a compose value with its ${...} references filled with placeholders."""
    return INTERPOLATION.sub("placeholder", str(value))


def test_compose_runs_every_component_and_migrate() -> None:
    services = _griddispatch_services()

    commands = {name: service["command"] for name, service in services.items()}

    assert {command[0] for command in commands.values()} == COMPONENTS | {"migrate"}


@pytest.mark.parametrize("name", sorted(_griddispatch_services()))
def test_compose_command_is_a_cli_command(name: str) -> None:
    command = _griddispatch_services()[name]["command"]

    assert command[0] in cli_commands()
    arguments = build_parser().parse_args(command)
    assert arguments.command == command[0]


@pytest.mark.parametrize("name", sorted(_griddispatch_services()))
def test_compose_variables_are_settings(name: str) -> None:
    environment = _griddispatch_services()[name]["environment"]

    unknown = set(environment) - setting_variables() - FOREIGN_VARIABLES
    assert unknown == set()


@pytest.mark.parametrize("name", sorted(_griddispatch_services()))
def test_compose_values_are_valid_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in _griddispatch_services()[name]["environment"].items():
        monkeypatch.setenv(variable, _filled(value))

    settings = Settings()

    assert settings.stream_replicas == 3
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql+asyncpg://")


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_components_wait_for_migrate_and_nats(name: str) -> None:
    depends_on = _griddispatch_services()[name]["depends_on"]

    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
    for node in NATS_NODES:
        assert depends_on[node] == {"condition": "service_healthy"}


def test_migrate_runs_once_after_postgres() -> None:
    migrate = _griddispatch_services()["migrate"]

    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "replicas" not in migrate.get("deploy", {})


def test_nats_nodes_route_to_each_other() -> None:
    services = _compose()["services"]

    for node in NATS_NODES:
        command = services[node]["command"]
        routes = command[command.index("--routes") + 1].split(",")
        assert routes == [f"nats-route://{other}:6222" for other in NATS_NODES], node
        assert "--js" in command
        assert command[command.index("--name") + 1] == f"gd-{node}"


def test_compose_mounts_files_it_ships() -> None:
    postgres = _compose()["services"]["postgres"]

    for volume in postgres["volumes"]:
        source = volume.split(":", 1)[0]
        if source.startswith("./"):
            assert (COMPOSE.parent / source).is_file(), source


def test_env_example_sets_only_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    assignments = [line.split("=", 1) for line in lines if line and not line.startswith("#")]

    assert {name for name, _value in assignments} - setting_variables() == set()
    for name, value in assignments:
        if value:
            monkeypatch.setenv(name, value)
    assert Settings().stream_replicas == 3


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")

    for package in ("griddispatch", "dispatcher", "workers", "bots", "storage"):
        assert f"COPY {package} {package}" in dockerfile
        assert Path(DEPLOY.parent / package).is_dir()
