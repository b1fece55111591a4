"""BACKUP_NOTIFY_EMAIL through a mail server as operators run them: STARTTLS required before AUTH, a login
required before mail, a certificate of its own (self-signed, made here). The notice goes only over a verified
connection: the system's CAs by default, or the CA file BACKUP_SMTP_CA_FILE names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.headless.conftest import Workspace, WorkspaceFactory

USER, PASSWORD = "backups", "s3cret-Pa55"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, as a small office's mail server has."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "mail.crt", folder / "mail.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class MailServer:
    port: int
    ca: Path
    mails: list[tuple[str, list[str], str]]
    logins: list[str]


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[MailServer]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mails: list[tuple[str, list[str], str]] = []
    logins: list[str] = []

    class Box:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            content = envelope.content if isinstance(envelope.content, bytes) else b""
            mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), content.decode("utf-8", "replace")))
            return "250 OK"

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      data: object) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        if ok:
            logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Box(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            auth_required=True, auth_require_tls=True, authenticator=authenticator)
    controller.start()
    yield MailServer(port, cert, mails, logins)
    controller.stop()


@pytest.fixture
def ws(make_workspace: WorkspaceFactory, tls_smtp: MailServer) -> Workspace:
    workspace = make_workspace("notify_tls")
    workspace.env.update(BACKUP_NOTIFY_EMAIL="oncall@example.com", BACKUP_SMTP_HOST=f"127.0.0.1:{tls_smtp.port}",
                         BACKUP_SMTP_FROM="backups@example.com", BACKUP_SMTP_USER=USER,
                         BACKUP_SMTP_PASSWORD=PASSWORD)
    workspace.repo.mkdir(parents=True, exist_ok=True)
    return workspace


def test_email_over_starttls_with_login_reaches_a_server_whose_ca_is_given(ws: Workspace,
                                                                            tls_smtp: MailServer) -> None:
    result = ws.run("notify", "--test", env={"BACKUP_SMTP_CA_FILE": str(tls_smtp.ca)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok     email to oncall@example.com via 127.0.0.1:{tls_smtp.port}" in result.stdout
    [(sender, to, mail)] = tls_smtp.mails
    assert (sender, to) == ("backups@example.com", ["oncall@example.com"]) and tls_smtp.logins
    assert "test notice from" in mail and PASSWORD not in result.stdout + result.stderr


def test_email_to_a_server_with_an_unknown_certificate_is_refused_before_the_password_is_sent(
        ws: Workspace, tls_smtp: MailServer) -> None:
    result = ws.run("notify", "--test")
    assert result.returncode == 1
    assert f"FAILED email to oncall@example.com via 127.0.0.1:{tls_smtp.port}" in result.stdout
    assert "certificate" in result.stdout and "BACKUP_SMTP_CA_FILE" in result.stdout
    assert tls_smtp.mails == [] and tls_smtp.logins == []
    assert PASSWORD not in result.stdout + result.stderr


def test_a_missing_ca_file_is_a_one_line_config_error(ws: Workspace, tmp_path: Path) -> None:
    result = ws.run("notify", "--test", env={"BACKUP_SMTP_CA_FILE": str(tmp_path / "nowhere.pem")})
    assert result.returncode != 0 and "BACKUP_SMTP_CA_FILE" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
