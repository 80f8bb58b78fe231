"""The systemd units of deploy/systemd: verified by systemd-analyze, and their wiring.

`systemd-analyze verify` runs on copies whose /opt/griddispatch/venv paths
point at this checkout's .venv, because it checks that ExecStart exists.
Where systemd-analyze is missing, the structural tests below still run.
"""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.cli.parser import build_parser
from tests.deploy.cluster import DEPLOY
from tests.deploy.support import cli_commands

UNITS = DEPLOY / "systemd"
INSTALL_VENV = "/opt/griddispatch/venv"
COMPONENTS = ["dispatcher", "worker", "bot", "api"]
MIGRATE = "griddispatch-migrate.service"
ENVIRONMENT_FILE = "/etc/griddispatch/griddispatch.env"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name, encoding="utf-8")
    return parser


def _exec_start(name: str) -> list[str]:
    return _unit(name)["Service"]["ExecStart"].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8").replace(INSTALL_VENV, str(venv))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    instances = [f"./{unit.name.replace('@.', '@1.')}" for unit in sorted(UNITS.iterdir())]

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *instances],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_unit_runs_its_command(component: str) -> None:
    command = _exec_start(f"griddispatch-{component}@.service")

    assert command[0] == f"{INSTALL_VENV}/bin/griddispatch"
    assert command[1:] == [component]
    assert component in cli_commands()
    assert build_parser().parse_args(command[1:]).command == component


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_unit_requires_migration(component: str) -> None:
    unit = _unit(f"griddispatch-{component}@.service")

    assert MIGRATE in unit["Unit"]["Requires"].split()
    assert MIGRATE in unit["Unit"]["After"].split()


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_unit_reads_environment_file(component: str) -> None:
    text = (UNITS / f"griddispatch-{component}@.service").read_text(encoding="utf-8")

    assert f"EnvironmentFile={ENVIRONMENT_FILE}\n" in text
    assert f"EnvironmentFile=-/etc/griddispatch/{component}-%i.env\n" in text


def test_migration_unit_is_one_shot() -> None:
    service = _unit(MIGRATE)["Service"]

    assert service["Type"] == "oneshot"
    assert service["RemainAfterExit"] == "yes"
    assert service["EnvironmentFile"] == ENVIRONMENT_FILE
    assert _exec_start(MIGRATE)[1:] == ["migrate"]
    assert build_parser().parse_args(["migrate"]).command == "migrate"


def test_nats_unit_reads_shipped_config_names() -> None:
    command = _exec_start("nats-server@.service")

    assert command[1:] == ["-c", "/etc/griddispatch/nats/nats-%i.conf"]
    for node in (1, 2, 3):
        assert (DEPLOY / "nats" / f"nats-{node}.conf").is_file()
