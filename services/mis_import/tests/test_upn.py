"""UPN validation: check letter (python-stdnum), temporary UPNs, LAs created since 2011."""

from __future__ import annotations

import pytest

from datagen import corrupt_upn, make_upn
from services.mis_import.upn import InvalidUpn, check_upn


def test_a_valid_upn_passes_and_is_not_temporary():
    upn = make_upn(823, 4001, 2014, 17)
    checked = check_upn(upn.lower())
    assert checked.value == upn and not checked.temporary


def test_a_temporary_upn_is_valid_but_flagged():
    upn = make_upn(823, 4001, 2025, 7, temporary=True)
    assert upn[-1].isalpha()
    assert check_upn(upn).temporary


@pytest.mark.parametrize(("value", "words"), [
    ("", "missing"),
    ("A12345", "not 13"),
    ("A8234001140X7", "check letter, 11 digits"),
    ("X999400114017", "not an English LA"),
])
def test_malformed_upns_are_refused_with_the_reason(value, words):
    with pytest.raises(InvalidUpn, match=words):
        check_upn(value)


def test_a_wrong_check_letter_is_refused():
    with pytest.raises(InvalidUpn, match="wrong check letter"):
        check_upn(corrupt_upn(make_upn(823, 4001, 2014, 17)))


def test_las_created_since_2011_issue_valid_upns():
    upn = make_upn(941, 2001, 2021, 5)  # West Northamptonshire
    assert check_upn(upn).value == upn
    with pytest.raises(InvalidUpn, match="wrong check letter"):
        check_upn(corrupt_upn(upn))
