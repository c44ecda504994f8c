"""Fixtures every tier uses: the anyio backend, and a CA and certificates made in the test
for the web config's TLS (``tests/webconfig_files.py`` holds the files they go into)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from .webconfig_files import Pki


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pki(tmp_path: Path, ca: trustme.CA) -> Pki:
    made = Pki(tmp_path, ca, ca.issue_cert("127.0.0.1", "localhost"))
    made.write_server(made.server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    ca.issue_cert("other.example").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    key = serialization.load_pem_private_key(made.server.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-password"),
    )
    (tmp_path / "encrypted.key").write_bytes(encrypted)
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    return made
