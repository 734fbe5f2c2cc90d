"""The dev cluster's certificates, keys and static tokens, made with the `openssl` CLI.

A real API server speaks TLS and authenticates every client, and the project's in-cluster code
paths (ServiceAccount tokens, `ca.crt` verification) only get exercised when the dev cluster does
the same. The files are created once per dev directory and reused on the next `up`, so a
kubeconfig handed out earlier keeps working.
"""

from __future__ import annotations

import csv
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CA_DAYS = "3650"
# Names a pod may use for the API server, as in a real cluster's serving certificate.
APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


class PkiError(RuntimeError):
    """openssl failed; the message carries its output."""


@dataclass(frozen=True)
class Identity:
    """A static-token user of the API server."""

    user: str
    groups: tuple[str, ...]


# Who talks to the API server. The admin and the local node are cluster admins (the node binds
# pods and provisions volumes, which the Node authorizer would not allow a kubelet); the
# controller manager uses its bootstrap role and per-controller ServiceAccounts, as kubeadm does.
IDENTITIES: dict[str, Identity] = {
    "admin": Identity("modelship-admin", ("system:masters",)),
    "controller-manager": Identity("system:kube-controller-manager", ()),
    "scheduler": Identity("system:kube-scheduler", ()),
    "local-node": Identity("modelship-local-node", ("system:masters",)),
}


@dataclass(frozen=True)
class Pki:
    """Paths of the files under the dev directory's pki/."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def token_file(self) -> Path:
        return self.directory / "tokens.csv"

    def tokens(self) -> dict[str, str]:
        """Identity name -> bearer token, read from the API server's token file."""
        by_user = {identity.user: name for name, identity in IDENTITIES.items()}
        with self.token_file.open(newline="") as handle:
            return {by_user[row[1]]: row[0] for row in csv.reader(handle) if row[1] in by_user}

    def ensure(self, apiserver_ips: Sequence[str]) -> None:
        """Create whatever is missing; existing files are kept, except the API server's
        certificate when the addresses it must name changed (a new service link)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            self._make_ca()
        sans = [f"DNS:{name}" for name in APISERVER_DNS_NAMES]
        leaves = {
            # name: (subject, subjectAltNames, extendedKeyUsage)
            "apiserver": ("/CN=kube-apiserver",
                          [*sans, "IP:127.0.0.1", *(f"IP:{ip}" for ip in apiserver_ips)],
                          "serverAuth"),
            # The local node's log endpoint, and the API server's client identity towards it.
            "kubelet": ("/CN=modelship-local-node", ["DNS:localhost", "IP:127.0.0.1"],
                        "serverAuth"),
            "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client",
                                         [], "clientAuth"),
        }  # fmt: skip
        for name, (subject, alt_names, usage) in leaves.items():
            names_file = self.directory / f"{name}.names"
            named = names_file.read_text() if names_file.exists() else None
            if name == "apiserver" and named != ",".join(alt_names):
                self.cert(name).unlink(missing_ok=True)
            if not (self.cert(name).exists() and self.key(name).exists()):
                self._issue(name, subject, alt_names, usage)
            names_file.write_text(",".join(alt_names))
        if not (self.sa_key.exists() and self.sa_pub.exists()):
            _openssl("genrsa", "-traditional", "-out", str(self.sa_key), "2048")
            _openssl("rsa", "-in", str(self.sa_key), "-pubout", "-out", str(self.sa_pub))
        if not self.token_file.exists():
            self._make_tokens()
        for path in self.directory.iterdir():
            path.chmod(0o600)

    def _make_ca(self) -> None:
        _openssl(
            "req", "-x509", "-new", "-nodes", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(self.ca_key), "-out", str(self.ca_cert),
            "-days", CA_DAYS, "-subj", "/CN=modelship-dev-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )  # fmt: skip

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def _issue(self, name: str, subject: str, alt_names: list[str], usage: str) -> None:
        """A leaf certificate signed by the cluster CA."""
        csr = self.directory / f"{name}.csr"
        ext = self.directory / f"{name}.ext"
        lines = ["keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={usage}"]
        if alt_names:
            lines.append(f"subjectAltName={','.join(alt_names)}")
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(self.key(name)), "-out", str(csr), "-subj", subject,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
            "-CAcreateserial", "-out", str(self.cert(name)), "-days", CA_DAYS,
            "-extfile", str(ext),
        )  # fmt: skip
        csr.unlink()
        ext.unlink()

    def _make_tokens(self) -> None:
        with self.token_file.open("w", newline="") as handle:
            writer = csv.writer(handle)
            for identity in IDENTITIES.values():
                # Static token file format: token,user,uid,"group1,group2".
                row = [secrets.token_urlsafe(32), identity.user, identity.user]
                if identity.groups:
                    row.append(",".join(identity.groups))
                writer.writerow(row)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PkiError(f"openssl {args[0]} failed: {result.stderr.strip()}")
