"""The local cluster's registry: its config, and the files that say where it listens."""

from __future__ import annotations

from pathlib import Path

import yaml

from modelship.devcluster import registry


def test_config_keeps_storage_under_the_cluster_and_listens_on_loopback(tmp_path: Path) -> None:
    files = registry.RegistryFiles(tmp_path)

    argv = registry.prepare(files)

    config = yaml.safe_load(files.config.read_text())
    port = files.port()
    assert argv[1:] == ["serve", str(files.config)] and argv[0].endswith("docker-registry")
    assert config["http"]["addr"] == f"127.0.0.1:{port}"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(tmp_path / "registry")
    assert config["storage"]["delete"]["enabled"] is True  # catalog prune deletes manifests
    assert "auth" not in config
    assert files.url() == f"http://127.0.0.1:{port}"
    assert files.catalog_file.read_text().strip() == registry.catalog_uri(port)


def test_a_restarted_cluster_keeps_its_registry_port_when_free(tmp_path: Path) -> None:
    files = registry.RegistryFiles(tmp_path)
    registry.prepare(files)
    first = files.port()

    registry.prepare(files)

    assert files.port() == first
