"""A throw-away certificate authority and a server certificate for 127.0.0.1, made with the
``openssl`` command (tests of TLS listeners: SMTP STARTTLS, ...)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestCerts:
    """PEM files: ``ca`` signed ``cert`` (with its ``key``) for IP 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_certs(dir_: Path) -> TestCerts:
    """A fresh CA and a 127.0.0.1 server certificate in ``dir_`` (created), valid two days."""
    dir_.mkdir(parents=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=dir_, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-days", "2", "-subj", "/CN=lw-test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    run("req", *key, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (dir_ / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")  # fmt: skip
    return TestCerts(dir_ / "ca.crt", dir_ / "server.crt", dir_ / "server.key")
