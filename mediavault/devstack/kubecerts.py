"""Certificates of a throwaway API server, made with Debian's openssl: a CA, serving and client."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from mediavault.errors import MediaVaultError

# Long enough for any test session or a day of trying things out; the cluster is thrown away.
VALID_DAYS = "7"


@dataclass(frozen=True)
class KubeCerts:
    """Paths of the PEM files the control plane and its clients use."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise MediaVaultError("openssl is missing: apt-get install openssl") from None
    except subprocess.CalledProcessError as error:
        raise MediaVaultError(f"openssl {args[0]} failed: {error.stderr.strip()}") from error


def _key(path: Path) -> None:
    """A P-256 key: quick to make, accepted everywhere the control plane takes a key."""
    curve = "ec_paramgen_curve:P-256"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", curve, "-out", str(path))
    path.chmod(0o600)


def _signed(ca: tuple[Path, Path], key: Path, cert: Path, subject: str, extensions: str) -> None:
    """A certificate for `key`, signed by the CA, with the given X.509 v3 extensions."""
    csr, ext = cert.with_suffix(".csr"), cert.with_suffix(".ext")
    ext.write_text(extensions + "\n")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", VALID_DAYS, "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def make_certs(directory: Path) -> KubeCerts:
    """Create every key and certificate under `directory` (loopback names only)."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = KubeCerts(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "service-account.key",
        service_account_pub=directory / "service-account.pub",
    )
    _key(certs.ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(certs.ca_key), "-subj", "/CN=mediavault-throwaway-ca",
        "-days", VALID_DAYS, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(certs.ca_cert),
    )  # fmt: skip
    ca = (certs.ca_cert, certs.ca_key)
    _key(certs.server_key)
    _signed(
        ca,
        certs.server_key,
        certs.server_cert,
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature",
    )
    # system:masters: the controllers, kwok, kubectl and Pulumi act as cluster admin.
    _key(certs.admin_key)
    _signed(
        ca,
        certs.admin_key,
        certs.admin_cert,
        "/O=system:masters/CN=mediavault-admin",
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature",
    )
    _key(certs.service_account_key)
    _openssl(
        "pkey", "-in", str(certs.service_account_key), "-pubout",
        "-out", str(certs.service_account_pub),
    )  # fmt: skip
    return certs
