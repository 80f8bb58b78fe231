"""The nats-server configuration files of deploy/nats."""

import re
import subprocess
from pathlib import Path

import pytest

from griddispatch.nats_server import nats_server_binary
from tests.deploy.cluster import NATS_CONFIGS, rewrite_config


@pytest.mark.parametrize("config", NATS_CONFIGS, ids=lambda path: path.name)
def test_nats_server_accepts_config(config: Path) -> None:
    result = subprocess.run(
        [str(nats_server_binary()), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_configs_route_to_all_three_nodes() -> None:
    routes = [
        re.findall(r"nats-route://127\.0\.0\.1:(\d+)", config.read_text())
        for config in NATS_CONFIGS
    ]
    listens = [
        re.search(r"cluster \{[^}]*listen: 127\.0\.0\.1:(\d+)", config.read_text(), re.S)
        for config in NATS_CONFIGS
    ]

    assert all(match is not None for match in listens)
    cluster_ports = sorted(match[1] for match in listens if match is not None)
    for node_routes in routes:
        assert sorted(node_routes) == cluster_ports


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_configs_use_distinct_names_and_ports() -> None:
    texts = [_without_comments(config.read_text()) for config in NATS_CONFIGS]

    names = [re.search(r"^server_name: (\S+)", text, re.M) for text in texts]
    ports = [re.findall(r"127\.0\.0\.1:(\d+)", text.split("routes: [")[0]) for text in texts]

    assert [match[1] for match in names if match] == ["gd-nats-1", "gd-nats-2", "gd-nats-3"]
    flat = [port for node_ports in ports for port in node_ports]
    assert len(flat) == len(set(flat)) == 9


def test_rewrite_replaces_every_port(tmp_path: Path) -> None:
    ports = {port: 40000 + index for index, port in enumerate(range(14231, 14234))}
    ports |= {port: 41000 + index for index, port in enumerate(range(18231, 18234))}
    ports |= {port: 42000 + index for index, port in enumerate(range(16231, 16234))}

    text = rewrite_config(NATS_CONFIGS[0].read_text(), ports, tmp_path)

    assert not re.search(r"127\.0\.0\.1:1[468]23\d", text)
    assert f'store_dir: "{tmp_path}"' in text
