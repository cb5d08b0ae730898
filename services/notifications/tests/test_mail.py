"""Mail transports: URL parsing, the .eml file transport, message headers."""

from __future__ import annotations

import email
from email import policy

import pytest

from services.notifications.mail import (
    FileTransport,
    MailError,
    SmtpTransport,
    build_message,
    message_id_for,
    open_mail_transport,
)

DELIVERY = "0f6b1f7e-5a8b-5d42-9a1b-3c2d1e0f9a8b"


def message(body="Hello,\n"):
    return build_message(
        delivery_id=DELIVERY, mail_from="Haven <no-reply@haven.test>",
        to_address="tom@demo.haven.test", to_name="Tom Teacher", subject="Haven alert",
        body=body,
    )


def test_urls_pick_the_transport():
    t = open_mail_transport("file://var/mail")
    assert isinstance(t, FileTransport) and str(t.directory) == "var/mail"
    assert str(open_mail_transport("file:///srv/mail").directory) == "/srv/mail"
    smtp = open_mail_transport("smtp://mailer:p%40ss@mail.example.test:2525?starttls=true&timeout=5")
    assert smtp == SmtpTransport(host="mail.example.test", port=2525, starttls=True,
                                 username="mailer", password="p@ss", timeout=5.0)
    assert open_mail_transport("smtps://mail.example.test") == SmtpTransport(
        host="mail.example.test", port=465, use_ssl=True)
    assert open_mail_transport("smtp://localhost").port == 25
    with pytest.raises(ValueError):
        open_mail_transport("http://mail.example.test")
    with pytest.raises(ValueError):
        open_mail_transport("smtp://")


def test_message_id_comes_from_the_delivery_id():
    first, again = message(), message()
    assert first["Message-ID"] == again["Message-ID"] == f"<{DELIVERY}@haven.test>"
    assert message_id_for(DELIVERY, "no-address") == f"<{DELIVERY}@haven.invalid>"
    assert first["To"] == "Tom Teacher <tom@demo.haven.test>"
    assert first["Auto-Submitted"] == "auto-generated"


def test_file_transport_writes_one_eml_per_delivery_atomically(tmp_path):
    transport = FileTransport(tmp_path / "mail")
    transport.send(message("first\n"), delivery_id=DELIVERY)
    transport.send(message("second\n"), delivery_id=DELIVERY)  # a resend replaces, never adds
    files = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert files == [f"{DELIVERY}.eml"]
    parsed = email.message_from_bytes(
        (tmp_path / "mail" / f"{DELIVERY}.eml").read_bytes(), policy=policy.default
    )
    assert parsed["Message-ID"] == f"<{DELIVERY}@haven.test>"
    assert parsed.get_content().replace("\r\n", "\n") == "second\n"


def test_file_transport_refuses_path_tricks_and_reports_unwritable_dirs(tmp_path):
    transport = FileTransport(tmp_path)
    with pytest.raises(MailError):
        transport.send(message(), delivery_id="../escape")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(MailError):
        FileTransport(blocker / "mail").send(message(), delivery_id=DELIVERY)
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_smtp_transport_reports_an_unreachable_server_as_temporary():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MailError) as failed:
        SmtpTransport(host="127.0.0.1", port=port, timeout=2).send(message(), delivery_id=DELIVERY)
    assert type(failed.value) is MailError
