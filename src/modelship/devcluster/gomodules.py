"""The pure half of building Kubernetes and etcd from their published Go modules.

`k8s.io/kubernetes` cannot be built with `go install …@version`: its go.mod requires its own
staging modules (`k8s.io/api`, `k8s.io/client-go`, …) at the placeholder `v0.0.0` and replaces
them with `./staging/...` paths that its module zip does not contain. A throw-away *wrapper*
module that requires `k8s.io/kubernetes` and replaces each placeholder with the published
`v0.X.Y` of the same release builds the real binaries. Everything here turns texts the module
proxy serves (go.mod, `.info`, `build/dependencies.yaml`) into the texts and flags of that build,
with no I/O, so each rule is unit-tested on real excerpts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

KUBERNETES_MODULE = "k8s.io/kubernetes"
ETCD_SERVER_MODULE = "go.etcd.io/etcd/server/v3"
ETCD_CTL_MODULE = "go.etcd.io/etcd/etcdctl/v3"
# Both packages carry a copy of the version that `--version`, `/version` and `kubectl version`
# report; upstream's build (hack/lib/version.sh) sets the same variables in each.
VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
ETCD_VERSION_PACKAGE = "go.etcd.io/etcd/api/v3/version"
# What the k8s.io/kubernetes go.mod writes for a staging module it replaces with a local path.
STAGING_PLACEHOLDER = "v0.0.0"

_EXACT = re.compile(r"^v?1\.(\d+)\.(\d+)$")
_MINOR = re.compile(r"^v?1\.(\d+)$")
_STABLE_STAGING = re.compile(r"^v0\.(\d+)\.(\d+)$")
_GO_VERSION = re.compile(r"(?:^|go)(\d+)\.(\d+)(?:\.(\d+))?((?:rc|beta)\d+)?")


@dataclass(frozen=True)
class VersionRequest:
    """What the user asked for: `1.X.Y` exactly, or `1.X` = the newest patch the proxy serves."""

    minor: int
    patch: int | None

    @classmethod
    def parse(cls, text: str) -> VersionRequest:
        exact = _EXACT.match(text.strip())
        if exact:
            return cls(minor=int(exact[1]), patch=int(exact[2]))
        minor = _MINOR.match(text.strip())
        if minor:
            return cls(minor=int(minor[1]), patch=None)
        raise ValueError(f"Kubernetes version {text!r}: expected 1.X.Y or 1.X (for example 1.37)")

    @property
    def exact(self) -> str | None:
        """`1.X.Y` when one patch was asked for, else None."""
        return None if self.patch is None else f"1.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class KubernetesRelease:
    """A release the proxy serves, with what its `.info` says about it."""

    version: str  # "1.37.2", without the leading v
    time: str  # the .info Time, RFC 3339: the build date the binaries report
    commit: str | None  # the .info Origin.Hash, when the proxy recorded one

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def staging_version(self) -> str:
        """The published version of the staging modules of the same release: 1.X.Y -> v0.X.Y."""
        return "v0." + self.version.split(".", 1)[1]


def staging_candidates(api_list: str, minor: int) -> list[str]:
    """Stable `1.X.Y` versions of one minor, newest first, from `k8s.io/api/@v/list`.

    The proxy's list for `k8s.io/kubernetes` itself omits releases it serves, while the staging
    modules are listed completely; each v0.X.Y is published with v1.X.Y.
    """
    patches = set()
    for line in api_list.split():
        match = _STABLE_STAGING.match(line)
        if match and int(match[1]) == minor:
            patches.add(int(match[2]))
    return [f"1.{minor}.{patch}" for patch in sorted(patches, reverse=True)]


def release_from_info(version: str, info_json: str) -> KubernetesRelease:
    """Read `k8s.io/kubernetes`'s `.info` answer ({"Version", "Time", "Origin": {"Hash"}})."""
    return KubernetesRelease(
        version=version, time=str(json.loads(info_json)["Time"]), commit=commit_from_info(info_json)
    )


def commit_from_info(info_json: str) -> str | None:
    """The commit of a module version, which the proxy records for some versions only."""
    origin = json.loads(info_json).get("Origin") or {}
    commit = origin.get("Hash")
    return str(commit) if commit else None


@dataclass(frozen=True)
class GoModFacts:
    """What the wrapper module copies from a dependency's go.mod."""

    go: str  # the `go` directive's version, for example "1.26.0"
    godebug: tuple[str, ...]  # the godebug directives, verbatim (single lines or a block)
    placeholders: tuple[str, ...]  # k8s.io/* modules required at v0.0.0


def read_gomod(text: str) -> GoModFacts:
    """Extract the `go` line, `godebug` directives and staging placeholders from a go.mod.

    The godebug directives are copied rather than derived from the `go` line: 1.34 says
    `go 1.25.0` but `godebug default=go1.24`, and the main module's settings are the binary's.
    """
    go: str | None = None
    godebug: list[str] = []
    placeholders: list[str] = []
    block: str | None = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if block is not None:
            if line == ")":
                if block == "godebug":
                    godebug.append(")")
                block = None
            elif block == "godebug" and line:
                godebug.append(f"\t{line}")
            elif block == "require":
                _note_placeholder(line.split(), placeholders)
            continue
        words = line.split()
        if not words:
            continue
        if words[-1] == "(" and len(words) == 2:
            block = words[0]
            if block == "godebug":
                godebug.append("godebug (")
        elif words[0] == "go" and len(words) == 2:
            go = words[1]
        elif words[0] == "godebug":
            godebug.append(line)
        elif words[0] == "require":
            _note_placeholder(words[1:], placeholders)
    if go is None:
        raise ValueError("the go.mod has no `go` directive")
    return GoModFacts(go=go, godebug=tuple(godebug), placeholders=tuple(placeholders))


def _note_placeholder(words: list[str], into: list[str]) -> None:
    if len(words) == 2 and words[0].startswith("k8s.io/") and words[1] == STAGING_PLACEHOLDER:
        into.append(words[0])


def kubernetes_wrapper_gomod(release: KubernetesRelease, kubernetes_gomod: str) -> str:
    """The go.mod of the throw-away module that builds `release` from the published modules."""
    facts = read_gomod(kubernetes_gomod)
    if not facts.placeholders:
        raise ValueError(
            f"{KUBERNETES_MODULE} {release.tag}'s go.mod requires no k8s.io module at "
            f"{STAGING_PLACEHOLDER}; the wrapper recipe does not know this layout"
        )
    lines = [
        f"// Written by modelship to build {KUBERNETES_MODULE} {release.tag}; safe to delete.",
        "module local/modelship-kubernetes-build",
        "",
        f"go {facts.go}",
        "",
    ]
    if facts.godebug:
        lines += [*facts.godebug, ""]
    lines += [f"require {KUBERNETES_MODULE} {release.tag}", "", "replace ("]
    lines += [f"\t{m} => {m} {release.staging_version}" for m in facts.placeholders]
    lines += [")", ""]
    return "\n".join(lines)


def etcd_wrapper_gomod(etcd_version: str, etcd_server_gomod: str) -> str:
    """The go.mod that builds etcd and etcdctl `etcd_version`.

    etcd's own `replace … => ../api` lines are ignored in a dependency and its modules require
    their published siblings, so requiring the two commands is enough. The `go` line is etcd's,
    because the main module's `go` line sets the binary's default GODEBUG.
    """
    go = read_gomod(etcd_server_gomod).go
    return "\n".join(
        [
            f"// Written by modelship to build etcd v{etcd_version}; safe to delete.",
            "module local/modelship-etcd-build",
            "",
            f"go {go}",
            "",
            "require (",
            f"\t{ETCD_CTL_MODULE} v{etcd_version}",
            f"\t{ETCD_SERVER_MODULE} v{etcd_version}",
            ")",
            "",
        ]
    )


def kubernetes_ldflags(release: KubernetesRelease) -> str:
    """`-ldflags` that make the binaries report the release truthfully (`-s -w`: no symbols)."""
    values = {
        "gitVersion": release.tag,
        "gitMajor": "1",
        "gitMinor": str(release.minor),
        "gitTreeState": "clean",
        "buildDate": release.time,
    }
    if release.commit:
        # Without it /version shows the unexpanded "$Format:%H$" of the source archive.
        values["gitCommit"] = release.commit
    flags = ["-s", "-w"]
    for package in VERSION_PACKAGES:
        flags += [f"-X {package}.{name}={value}" for name, value in values.items()]
    return " ".join(flags)


def etcd_ldflags(etcd_version: str, commit: str | None) -> str:
    """etcd's GitSHA: the commit when the proxy knows it, else the tag (which names one commit).

    Unset, `etcd --version` prints "Git SHA: Not provided".
    """
    return f"-s -w -X {ETCD_VERSION_PACKAGE}.GitSHA={commit or 'v' + etcd_version}"


def etcd_version_from_dependencies(dependencies_yaml: str) -> str:
    """The etcd a Kubernetes release is tested with, from its `build/dependencies.yaml`.

    Only the entry named exactly `etcd` counts: `etcd-image` is the image's own revision.
    """
    document = yaml.safe_load(dependencies_yaml) or {}
    for entry in document.get("dependencies") or []:
        if isinstance(entry, dict) and entry.get("name") == "etcd":
            return str(entry["version"]).removeprefix("v")
    raise ValueError("build/dependencies.yaml names no `etcd` dependency")


def parse_go_version(text: str) -> tuple[int, int, int] | None:
    """`go1.26.8`, `1.26.0`, `1.26` -> (1, 26, 8) …; a release candidate sorts before its .0."""
    match = _GO_VERSION.search(text.strip())
    if not match:
        return None
    patch = -1 if match[4] else int(match[3] or 0)
    return (int(match[1]), int(match[2]), patch)


def go_is_new_enough(installed: str, required: str) -> bool:
    """Whether the local Go (`go env GOVERSION`) satisfies a module's `go` line."""
    have, need = parse_go_version(installed), parse_go_version(required)
    if need is None:
        raise ValueError(f"cannot read the Go version {required!r}")
    return have is not None and have >= need
