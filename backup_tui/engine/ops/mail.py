"""BACKUP_NOTIFY_EMAIL's own sender (smtplib), so an operator can trust a mail server's own CA
(BACKUP_SMTP_CA_FILE) without turning certificate checks off, which apprise cannot do. With a login the
connection is STARTTLS first, verified (the system's CAs, plus the given file), and the password goes only
over it; without one, plain SMTP to a relay (localhost:25), as the old scripts did."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's CAs, and the operator's own when given: checks stay on, hostname included."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def send_mail(url: str, ca_file: Path | None, title: str, body: str, timeout: float) -> None:
    """Send one notice as the ``mailto(s)://[user:password@]host:port?to=&from=`` URL config built says."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host, port = parts.hostname or "localhost", parts.port or 25
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = title, query["from"], query["to"]
    message["Date"], message["Message-ID"] = formatdate(localtime=True), make_msgid(domain=host)
    message.set_content(body)
    with smtplib.SMTP(host, port, timeout=timeout) as server:
        if parts.scheme == "mailtos":
            try:
                server.starttls(context=tls_context(ca_file))
            except ssl.SSLCertVerificationError as exc:
                raise OSError(f"the mail server's certificate is not trusted ({exc.verify_message}); give its CA "
                              "in BACKUP_SMTP_CA_FILE") from None
            except smtplib.SMTPNotSupportedError:
                raise OSError("the mail server does not offer STARTTLS: the password is not sent in clear") from None
            server.login(unquote(parts.username or ""), unquote(parts.password or ""))
        server.send_message(message)
