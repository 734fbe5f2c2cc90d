"""Building Kubernetes and etcd from the Go module proxy: the parts that need no network.

The proxy is replaced by answers recorded from proxy.golang.org (a URL not recorded fails the
test, so nothing here can reach the network); go.mod and dependencies.yaml texts are excerpts
of the real files of k8s.io/kubernetes v1.37.2 / v1.34.12 and go.etcd.io/etcd/server/v3 v3.7.0.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from modelship.cli import build_parser
from modelship.devcluster.gobuild import build_from_modules
from modelship.devcluster.gocache import (
    GoBuildSettings,
    cached_manifest,
    entry_dir,
    install,
    new_staging,
)
from modelship.devcluster.gomodules import (
    KubernetesRelease,
    VersionRequest,
    etcd_ldflags,
    etcd_version_from_dependencies,
    etcd_wrapper_gomod,
    go_is_new_enough,
    kubernetes_ldflags,
    kubernetes_wrapper_gomod,
    read_gomod,
    release_from_info,
)
from modelship.devcluster.goproxy import Answer, ModuleProxy, resolve_kubernetes
from modelship.devcluster.gotool import require_go
from modelship.devcluster.progress import BinariesError

PROXY = "https://proxy.golang.org"
REFUSED = Answer(403, "This module version is not available.\n")
# k8s.io/api/@v/list, the 0.34 and 0.37 lines (the real list is unsorted and has every minor).
API_LIST = """v0.34.0-rc.0
v0.34.0
v0.34.1
v0.34.2
v0.34.3
v0.34.4
v0.34.6
v0.34.7
v0.34.8
v0.34.9
v0.34.10
v0.34.11
v0.34.12
v0.34.13
v0.37.0-alpha.1
v0.37.0-rc.1
v0.37.0
v0.37.1
v0.37.2
v0.38.0-alpha.0
v0.38.0-beta.0
"""
# k8s.io/kubernetes/@v/list: the newest 1.34 it lists is 1.34.4, though 1.34.12 is served.
KUBERNETES_LIST = "v1.34.0\nv1.34.2\nv1.34.3\nv1.34.4\nv1.37.2\nv1.38.0-beta.0\n"
RECORDED = {
    "k8s.io/api/@v/list": Answer(200, API_LIST),
    "k8s.io/kubernetes/@v/list": Answer(200, KUBERNETES_LIST),
    "k8s.io/kubernetes/@v/v1.34.13.info": REFUSED,
    "k8s.io/kubernetes/@v/v1.34.12.info": Answer(
        200, '{"Version": "v1.34.12", "Time": "2026-09-23T17:08:30Z"}'
    ),
    "k8s.io/kubernetes/@v/v1.34.8.info": Answer(
        200,
        '{"Version":"v1.34.8","Time":"2026-05-12T09:50:01Z","Origin":{"VCS":"git","URL":'
        '"https://github.com/kubernetes/kubernetes","Hash":'
        '"1f328c5e9dd683d0c5e69f3d7d58f8371278dec2","Ref":"refs/tags/v1.34.8"}}',
    ),
    "k8s.io/kubernetes/@v/v1.34.6.info": REFUSED,
    "k8s.io/kubernetes/@v/v1.37.2.info": Answer(
        200, '{"Version": "v1.37.2", "Time": "2026-10-27T12:01:04Z"}'
    ),
    "k8s.io/kubernetes/@v/v1.37.3.info": REFUSED,
}


class RecordedProxy:
    """Replays recorded answers and remembers what was asked."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url: str) -> Answer:
        path = url.removeprefix(f"{PROXY}/")
        self.asked.append(path)
        if path not in self.answers:
            raise AssertionError(f"not recorded: {url}")
        return self.answers[path]


def proxy_with(answers: dict[str, Answer] = RECORDED) -> tuple[ModuleProxy, RecordedProxy]:
    recorded = RecordedProxy(answers)
    return ModuleProxy(fetch=recorded, base=PROXY), recorded


def test_a_minor_resolves_to_its_newest_patch_the_proxy_serves() -> None:
    proxy, recorded = proxy_with()
    release = resolve_kubernetes("1.37", proxy)
    assert release == KubernetesRelease("1.37.2", "2026-10-27T12:01:04Z", commit=None)
    # v0.38.0-beta.0 is listed, but a pre-release is never a candidate for 1.37 or 1.38
    assert recorded.asked == ["k8s.io/api/@v/list", "k8s.io/kubernetes/@v/v1.37.2.info"]


def test_a_refused_patch_is_stepped_down_past_with_a_progress_line() -> None:
    proxy, recorded = proxy_with()
    said: list[str] = []
    release = resolve_kubernetes("1.34", proxy, said.append)
    assert release.version == "1.34.12"
    assert release.staging_version == "v0.34.12"
    assert said == ["the proxy does not serve 1.34.13; using 1.34.12"]
    # k8s.io/kubernetes' own list (newest 1.34: 1.34.4) is never consulted
    assert "k8s.io/kubernetes/@v/list" not in recorded.asked


def test_an_exact_version_is_confirmed_with_its_info_and_keeps_its_commit() -> None:
    proxy, recorded = proxy_with()
    release = resolve_kubernetes("v1.34.8", proxy)
    assert release.commit == "1f328c5e9dd683d0c5e69f3d7d58f8371278dec2"
    assert recorded.asked == ["k8s.io/kubernetes/@v/v1.34.8.info"]


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        pytest.param("1.37.3", "does not serve k8s.io/kubernetes v1.37.3; ask for 1.37", id="403"),
        pytest.param(
            "1.38",
            "serves no k8s.io/kubernetes 1.38.x (k8s.io/api lists none)",
            id="only-prereleases",
        ),
        pytest.param("1.99", "(k8s.io/api lists none)", id="unknown-minor"),
    ],
)
def test_what_the_proxy_does_not_serve_is_refused_by_name(requested: str, message: str) -> None:
    proxy, _ = proxy_with()
    with pytest.raises(BinariesError, match=re.escape(message)):
        resolve_kubernetes(requested, proxy)


def test_when_every_candidate_is_refused_the_error_lists_them() -> None:
    answers = {
        "k8s.io/api/@v/list": Answer(200, "v0.34.6\nv0.34.13\n"),
        "k8s.io/kubernetes/@v/v1.34.13.info": REFUSED,
        "k8s.io/kubernetes/@v/v1.34.6.info": REFUSED,
    }
    proxy, _ = proxy_with(answers)
    with pytest.raises(BinariesError, match=r"1\.34\.x \(refused 1\.34\.13, 1\.34\.6\)"):
        resolve_kubernetes("1.34", proxy)


@pytest.mark.parametrize("text", ["latest", "2.0", "1", "1.37.2.1", "1.x"])
def test_a_version_request_is_1_x_or_1_x_y(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("expected 1.X.Y or 1.X")):
        VersionRequest.parse(text)


# The head of k8s.io/kubernetes v1.37.2's go.mod, cut inside both blocks.
KUBERNETES_GOMOD = """// This is a generated file. Do not edit directly.
// Run hack/pin-dependency.sh to change pinned dependency versions.

module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	bitbucket.org/bertimus9/systemstat v0.5.0
	go.etcd.io/etcd/api/v3 v3.7.0
	k8s.io/api v0.0.0
	k8s.io/apiextensions-apiserver v0.0.0
	k8s.io/client-go v0.0.0
	k8s.io/klog/v2 v2.140.0
	k8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad
	k8s.io/streaming v0.0.0
	k8s.io/system-validators v1.12.1
	sigs.k8s.io/yaml v1.6.0
)

require (
	k8s.io/gengo/v2 v2.0.0-20260408192533-25e2208e0dc3 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiextensions-apiserver => ./staging/src/k8s.io/apiextensions-apiserver
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/streaming => ./staging/src/k8s.io/streaming
)
"""
RELEASE = release_from_info("1.37.2", RECORDED["k8s.io/kubernetes/@v/v1.37.2.info"].body)


def test_the_wrapper_gomod_replaces_each_placeholder_with_the_published_staging_module() -> None:
    assert kubernetes_wrapper_gomod(RELEASE, KUBERNETES_GOMOD) == (
        "// Written by modelship to build k8s.io/kubernetes v1.37.2; safe to delete.\n"
        "module local/modelship-kubernetes-build\n"
        "\n"
        "go 1.26.0\n"
        "\n"
        "godebug default=go1.26\n"
        "\n"
        "require k8s.io/kubernetes v1.37.2\n"
        "\n"
        "replace (\n"
        "\tk8s.io/api => k8s.io/api v0.37.2\n"
        "\tk8s.io/apiextensions-apiserver => k8s.io/apiextensions-apiserver v0.37.2\n"
        "\tk8s.io/client-go => k8s.io/client-go v0.37.2\n"
        "\tk8s.io/streaming => k8s.io/streaming v0.37.2\n"
        ")\n"
    )


def test_godebug_is_copied_not_derived_from_the_go_line() -> None:
    # v1.34.12 says go 1.25.0 but keeps the 1.24 defaults
    v134 = KUBERNETES_GOMOD.replace("go 1.26.0", "go 1.25.0").replace("go1.26", "go1.24")
    facts = read_gomod(v134)
    assert (facts.go, facts.godebug) == ("1.25.0", ("godebug default=go1.24",))
    block = KUBERNETES_GOMOD.replace(
        "godebug default=go1.26", "godebug (\n\tdefault=go1.26\n\twinsymlink=0 // why\n)"
    )
    assert read_gomod(block).godebug == ("godebug (", "\tdefault=go1.26", "\twinsymlink=0", ")")
    assert read_gomod(KUBERNETES_GOMOD.replace("godebug default=go1.26\n", "")).godebug == ()


def test_a_gomod_without_placeholders_is_not_a_layout_the_recipe_knows() -> None:
    with pytest.raises(ValueError, match=re.escape("requires no k8s.io module at v0.0.0")):
        kubernetes_wrapper_gomod(RELEASE, KUBERNETES_GOMOD.replace(" v0.0.0\n", " v0.37.2\n"))
    with pytest.raises(ValueError, match="no `go` directive"):
        read_gomod("module example.com/x\n")


# The head of go.etcd.io/etcd/server/v3 v3.7.0's go.mod.
ETCD_SERVER_GOMOD = """module go.etcd.io/etcd/server/v3

go 1.26

toolchain go1.26.5

require (
	github.com/coreos/go-semver v0.3.1
	go.etcd.io/etcd/api/v3 v3.7.0
)

replace (
	go.etcd.io/etcd/api/v3 => ../api
)
"""


def test_the_etcd_wrapper_takes_etcds_go_line_and_requires_both_commands() -> None:
    assert etcd_wrapper_gomod("3.7.0", ETCD_SERVER_GOMOD) == (
        "// Written by modelship to build etcd v3.7.0; safe to delete.\n"
        "module local/modelship-etcd-build\n"
        "\n"
        "go 1.26\n"
        "\n"
        "require (\n"
        "\tgo.etcd.io/etcd/etcdctl/v3 v3.7.0\n"
        "\tgo.etcd.io/etcd/server/v3 v3.7.0\n"
        ")\n"
    )


def test_ldflags_set_the_version_in_both_packages_and_the_commit_only_when_known() -> None:
    flags = kubernetes_ldflags(RELEASE).split(" -X ")
    assert flags[0] == "-s -w"
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{package}.gitVersion=v1.37.2" in flags
        assert f"{package}.gitMajor=1" in flags
        assert f"{package}.gitMinor=37" in flags
        assert f"{package}.gitTreeState=clean" in flags
        assert f"{package}.buildDate=2026-10-27T12:01:04Z" in flags
    assert "gitCommit" not in kubernetes_ldflags(RELEASE)
    with_commit = release_from_info("1.34.8", RECORDED["k8s.io/kubernetes/@v/v1.34.8.info"].body)
    assert (
        kubernetes_ldflags(with_commit).count(".gitCommit=1f328c5e9dd683d0c5e69f3d7d58f8371278dec2")
        == 2
    )
    assert etcd_ldflags("3.7.0", None) == ("-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v3.7.0")
    assert etcd_ldflags("3.7.0", "abc123").endswith("GitSHA=abc123")


# k8s.io/kubernetes v1.34.12 build/dependencies.yaml, around its etcd entries.
DEPENDENCIES_YAML = """dependencies:
  # zeitgeist (https://github.com/kubernetes-sigs/zeitgeist) was inspired by
  # (and now replaces) the cmd/verifydependencies tool.
  - name: "protoc"
    version: 23.4
    refPaths:
    - path: hack/lib/protoc.sh
      match: PROTOC_VERSION=

  # etcd
  - name: "etcd"
    version: 3.6.5
    refPaths:
    - path: cluster/gce/manifests/etcd.manifest
      match: etcd_docker_tag|etcd_version
    - path: hack/lib/etcd.sh
      match: ETCD_VERSION=

  - name: "etcd-image"
    version: 3.6.4
    refPaths:
    - path: cluster/images/etcd/Makefile
      match: BUNDLED_ETCD_VERSIONS\\?|LATEST_ETCD_VERSION\\?
"""


def test_the_etcd_version_is_the_entry_named_etcd_not_the_image() -> None:
    assert etcd_version_from_dependencies(DEPENDENCIES_YAML) == "3.6.5"
    with pytest.raises(ValueError, match="names no `etcd`"):
        etcd_version_from_dependencies(DEPENDENCIES_YAML.replace('"etcd"', '"etcd-old"'))


@pytest.mark.parametrize(
    ("installed", "required", "enough"),
    [
        ("go1.26.8", "1.26.0", True),
        ("go1.26.8", "1.26", True),
        ("go1.25.9", "1.26", False),
        ("go1.26rc1", "1.26.0", False),
        ("go1.19.8", "1.25.0", False),
        ("devel go1.27-abcdef", "1.26.0", True),
        ("", "1.26.0", False),
    ],
)
def test_go_is_new_enough_for_the_modules_go_line(
    installed: str, required: str, enough: bool
) -> None:
    assert go_is_new_enough(installed, required) is enough


def test_without_go_the_error_says_which_go_is_needed_and_how_to_get_it() -> None:
    with pytest.raises(BinariesError) as missing:
        require_go("modelship-no-such-go", "1.26.0", "Kubernetes 1.37.2", dict(os.environ))
    message = str(missing.value)
    assert "cannot build Kubernetes 1.37.2: `modelship-no-such-go` is not on PATH" in message
    assert "needs Go 1.26.0 or newer" in message
    assert "https://go.dev/dl/" in message and "MODELSHIP_GO" in message


def test_an_old_go_is_refused_with_its_version(tmp_path: Path) -> None:
    old_go = tmp_path / "go"
    old_go.write_text("#!/bin/sh\necho go1.19.8\n")
    old_go.chmod(0o755)
    with pytest.raises(BinariesError, match=r"is go1\.19\.8, the module needs Go 1\.26\.0"):
        require_go(str(old_go), "1.26.0", "Kubernetes 1.37.2", dict(os.environ))


def fake_entry(entry: Path, manifest: dict[str, object], binaries: list[str]) -> None:
    (entry / "bin").mkdir(parents=True)
    for name in binaries:
        (entry / "bin" / name).write_text("#!/bin/sh\necho built\n")
        (entry / "bin" / name).chmod(0o755)
    (entry / "build.json").write_text(json.dumps(manifest))


COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]


def test_an_entry_is_complete_only_with_its_manifest_and_every_binary_executable(
    tmp_path: Path,
) -> None:
    entry = entry_dir(tmp_path, "kubernetes", "1.37.2")
    assert entry.name == "kubernetes-1.37.2-mod-r1"
    assert cached_manifest(entry, COMPONENTS) is None  # absent
    fake_entry(entry, {"etcd": "3.7.0", "components": COMPONENTS}, COMPONENTS)
    assert cached_manifest(entry, COMPONENTS) == {"etcd": "3.7.0", "components": COMPONENTS}
    assert cached_manifest(entry, [*COMPONENTS, "kubectl"]) is None  # never built
    (entry / "bin" / "kube-scheduler").chmod(stat.S_IRUSR)
    assert cached_manifest(entry, COMPONENTS) is None  # not executable
    (entry / "bin" / "kube-scheduler").chmod(0o755)
    (entry / "build.json").unlink()
    assert cached_manifest(entry, COMPONENTS) is None  # binaries without a manifest


def test_a_build_goes_into_place_whole_and_leftovers_of_dead_builds_are_removed(
    tmp_path: Path,
) -> None:
    entry = entry_dir(tmp_path, "etcd", "3.7.0")
    dead = tmp_path / f".{entry.name}.999999999.abc.partial"
    dead.mkdir()
    staging = new_staging(entry)
    assert not dead.exists()
    assert staging.parent == tmp_path and staging.name.endswith(".partial")
    assert stat.S_IMODE(staging.stat().st_mode) == 0o755
    fake_entry(staging, {}, ["etcd", "etcdctl"])
    (staging / "build.json").unlink()
    assert cached_manifest(entry, ["etcd"]) is None
    install(staging, entry, {"etcd": "3.7.0", "components": ["etcd", "etcdctl"]})
    assert not staging.exists()
    assert cached_manifest(entry, ["etcd", "etcdctl"]) is not None
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]


def test_settings_default_to_the_modelship_cache_and_are_read_only_from_what_is_passed(
    tmp_path: Path,
) -> None:
    settings = GoBuildSettings.from_environ({"XDG_CACHE_HOME": str(tmp_path)})
    assert settings.cache_root == tmp_path / "modelship"
    assert settings.mod_cache == tmp_path / "modelship" / "go" / "mod"
    assert settings.build_cache == tmp_path / "modelship" / "go" / "build"
    assert (settings.proxy, settings.go, settings.jobs, settings.nice) == (PROXY, "go", 2, 19)
    warm = GoBuildSettings.from_environ(
        {"HOME": str(tmp_path), "MODELSHIP_GOCACHE": "/warm/build", "MODELSHIP_GO_JOBS": "1"}
    )
    assert warm.cache_root == tmp_path / ".cache" / "modelship"
    assert (warm.build_cache, warm.jobs) == (Path("/warm/build"), 1)
    env = warm.go_environment({"PATH": "/usr/bin", "GOFLAGS": "-buildvcs=true"})
    assert env["PATH"] == "/usr/bin"
    assert env["GOCACHE"] == "/warm/build"
    assert env["GOFLAGS"] == "-mod=mod -buildvcs=false"
    assert (env["CGO_ENABLED"], env["GOTOOLCHAIN"], env["GOWORK"]) == ("0", "local", "off")


def test_a_cached_exact_release_is_used_without_asking_the_proxy(tmp_path: Path) -> None:
    settings = GoBuildSettings.from_environ({"XDG_CACHE_HOME": str(tmp_path)})
    kubernetes = entry_dir(settings.cache_root, "kubernetes", "1.37.2")
    etcd = entry_dir(settings.cache_root, "etcd", "3.7.0")
    fake_entry(
        kubernetes, {"kubernetes": "1.37.2", "etcd": "3.7.0", "components": COMPONENTS}, COMPONENTS
    )
    fake_entry(etcd, {"etcd": "3.7.0", "components": ["etcd", "etcdctl"]}, ["etcd", "etcdctl"])
    proxy, recorded = proxy_with({})
    said: list[str] = []
    built = build_from_modules("1.37.2", settings, proxy=proxy, progress=said.append)
    assert recorded.asked == []
    assert (built.kubernetes, built.etcd) == ("1.37.2", "3.7.0")
    assert built.binaries["kube-scheduler"] == kubernetes / "bin" / "kube-scheduler"
    assert built.binaries["etcd"] == etcd / "bin" / "etcd"
    assert "kubectl" not in built.binaries
    assert said == [
        f"Kubernetes 1.37.2 is cached in {kubernetes}",
        f"etcd 3.7.0 is cached in {etcd}",
    ]


def test_dev_build_takes_a_kubernetes_version_and_defaults_to_the_cluster_binaries() -> None:
    parser = build_parser()
    chosen = parser.parse_args(["dev", "build", "--kubernetes", "1.37", "--with-kubectl"])
    assert (chosen.kubernetes, chosen.with_kubectl) == ("1.37", True)
    default = parser.parse_args(["dev", "build"])
    assert (default.kubernetes, default.with_kubectl) == (None, False)
