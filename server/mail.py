"""Sending e-mail through an ``email`` channel's SMTP settings (``smtplib``): STARTTLS with
the server's certificate and host name verified against the system's CAs or the channel's
``ca_file``, and login when configured. The alert channel
(:class:`server.alerts.channels.EmailSender`: one message per address, each with its own
acknowledge link) and the monthly device log (:mod:`server.device_logs`) send through it
(docs/alerts.md, "Channels")."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from lobbywatch.config.notify import EmailChannel


class MailError(RuntimeError):
    """The SMTP server did not take the message (or could not be trusted)."""


def send_mail(channel: EmailChannel, msg: EmailMessage, timeout_s: float) -> None:
    """Send ``msg`` to every address of the channel (:func:`send_mails`)."""
    send_mails(channel, [(msg, channel.to)], timeout_s)


def send_mails(
    channel: EmailChannel, mails: Sequence[tuple[EmailMessage, Sequence[str]]], timeout_s: float
) -> None:
    """Send each message to its addresses (From is the channel's sender) over one SMTP
    session; an untrusted server gets no mail and no password. Raises :class:`MailError`
    saying why it failed."""
    for msg, to in mails:
        msg["From"] = channel.sender
        msg["To"] = ", ".join(to)
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=timeout_s) as smtp:
            if channel.starttls:
                cafile = str(channel.ca_file) if channel.ca_file is not None else None
                smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            if channel.username is not None:
                password = channel.password_file.read_text().strip() if channel.password_file else ""
                smtp.login(channel.username, password)
            for msg, _ in mails:
                smtp.send_message(msg)
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"SMTP {channel.host}:{channel.port}: the server's TLS certificate is not trusted "
            f"({exc.verify_message}); give the channel the CA that signed it (ca_file)"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"SMTP {channel.host}:{channel.port}: {exc}") from None
