"""A cluster's /16 is reserved atomically, kept, and never shared with another cluster here."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from modelship.devcluster import octets
from modelship.devcluster.node.network import OCTETS
from modelship.devcluster.octets import namespaces_in_use


@pytest.fixture(autouse=True)
def no_machine_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the reservations under test count, not clusters running on this machine."""
    monkeypatch.setattr(octets, "bridges_in_use", lambda: set())
    monkeypatch.setattr(octets, "namespaces_in_use", lambda: set())


def test_the_octet_is_chosen_once_and_kept(tmp_path: Path) -> None:
    root, reservations = tmp_path / "dev", tmp_path / "octets"
    root.mkdir()
    octet = octets.kept_octet(root, reservations)
    assert 100 <= octet <= 254
    assert octets.kept_octet(root, reservations) == octet
    assert (reservations / str(octet)).read_text() == str(root.resolve())
    (root / "node.json").write_text(json.dumps({"loopbackOctet": 140}))
    assert octets.kept_octet(root, reservations) == 140


def test_an_octet_another_cluster_reserved_is_never_picked(tmp_path: Path) -> None:
    reservations = tmp_path / "octets"
    roots = [tmp_path / f"dev{n}" for n in OCTETS]
    for root in roots:
        root.mkdir()
    picked = [octets.kept_octet(root, reservations) for root in roots]
    assert sorted(picked) == list(OCTETS)  # every cluster its own, until none is left
    with pytest.raises(RuntimeError, match="in use"):
        late = tmp_path / "late"
        late.mkdir()
        octets.kept_octet(late, reservations)


def test_a_reservation_whose_cluster_is_gone_is_reclaimed(tmp_path: Path) -> None:
    reservations = tmp_path / "octets"
    roots = [tmp_path / f"dev{n}" for n in OCTETS]
    for root in roots:
        root.mkdir()
    picked = {root: octets.kept_octet(root, reservations) for root in roots}
    gone = roots[7]
    (gone / "node.json").unlink()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert octets.kept_octet(fresh, reservations) == picked[gone]
    assert (reservations / str(picked[gone])).read_text() == str(fresh.resolve())


def _pick(root: str, reservations: str) -> int:
    octets.bridges_in_use = lambda: set()  # type: ignore[assignment]
    octets.namespaces_in_use = lambda: set()  # type: ignore[assignment]
    return octets.kept_octet(Path(root), Path(reservations))


def test_clusters_starting_at_once_get_different_octets(tmp_path: Path) -> None:
    """Separate processes racing (as the test workers do): no two get the same /16."""
    reservations = tmp_path / "octets"
    roots = [tmp_path / f"dev{n}" for n in range(len(OCTETS))]
    for root in roots:
        root.mkdir()
    with ProcessPoolExecutor(max_workers=8) as pool:
        picked = list(pool.map(_pick, map(str, roots), [str(reservations)] * len(roots)))
    assert sorted(picked) == list(OCTETS)


def test_namespaces_in_use_reads_their_names(tmp_path: Path) -> None:
    for name in ("modelship101", "modelship7x", "other"):
        (tmp_path / name).touch()
    assert namespaces_in_use(tmp_path) == {101}


def test_without_a_usable_reservation_directory_the_octet_is_still_chosen_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another user's directory (root made it): picked unreserved, said in the log."""
    root = tmp_path / "dev"
    root.mkdir()
    not_a_directory = tmp_path / "octets"
    not_a_directory.write_text("a file where the directory should be")
    octet = octets.kept_octet(root, not_a_directory)
    assert octets.kept_octet(root, not_a_directory) == octet
    assert "without a reservation" in caplog.text
