"""TOTP: RFC 6238 test vectors, the accepted window, secret and code formats."""

from __future__ import annotations

import base64
import datetime as dt

import pyotp
import pytest

from services.identity import totp
from shared.errors import InvalidArgument

RFC6238_SHA1_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC6238_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "expected"), RFC6238_SHA1_VECTORS)
def test_rfc6238_appendix_b_sha1_vectors(unix_time, expected):
    generator = pyotp.TOTP(RFC6238_SHA1_SECRET, digits=8, interval=30)
    assert generator.at(unix_time) == expected
    # The same step arithmetic the service uses (naive UTC datetimes).
    when = dt.datetime.fromtimestamp(unix_time, dt.UTC).replace(tzinfo=None)
    assert totp.time_step(when) == unix_time // 30
    assert generator.generate_otp(totp.time_step(when)) == expected


def test_codes_match_their_step_and_one_step_either_side_only():
    secret = totp.new_secret()
    now = dt.datetime(2026, 3, 2, 9, 0, 15)
    step = totp.time_step(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, now + dt.timedelta(seconds=30 * offset))
        assert totp.matching_step(secret, code, now) == step + offset
    for offset in (-2, 2):
        code = totp.code_at(secret, now + dt.timedelta(seconds=30 * offset))
        assert totp.matching_step(secret, code, now) is None


def test_naive_datetimes_are_utc():
    secret = totp.new_secret()
    aware = dt.datetime(2026, 7, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert totp.code_at(secret, aware.replace(tzinfo=None)) == pyotp.TOTP(secret).at(aware)


def test_secrets_are_normalised_and_checked():
    assert totp.normalise_secret("jbsw y3dp-ehpk 3pxp jbsw y3dp-ehpk 3pxp") == (
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    )
    assert totp.normalise_secret("HAVENDSLDEMO2026DSLTOTPSECRETKEY") == (
        "HAVENDSLDEMO2O26DSLTOTPSECRETKEY"
    )
    for bad in ("JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX1",
                "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX!"):  # 80 bits is too few; 1 and ! are not base32
        with pytest.raises(InvalidArgument):
            totp.normalise_secret(bad)
    assert len(base64.b32decode(totp.new_secret())) == 20


def test_codes_must_be_six_digits():
    assert totp.clean_code(" 123 456 ") == "123456"
    for bad in ("", "12345", "1234567", "12a456"):
        with pytest.raises(InvalidArgument):
            totp.clean_code(bad)


def test_provisioning_uri_names_the_account_and_issuer():
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    uri = totp.provisioning_uri(secret, email="dsl@demo.haven.test")
    assert uri.startswith(f"otpauth://totp/Haven:dsl%40demo.haven.test?secret={secret}")
    assert "issuer=Haven" in uri
