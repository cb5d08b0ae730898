"""Passwords: argon2id hashes, rehash on new parameters, the strength check."""

from __future__ import annotations

import pytest

from services.identity.passwords import Passwords, check_strength
from shared.errors import InvalidArgument

CHEAP = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}


def test_default_parameters_are_argon2id_rfc9106():
    stored = Passwords().hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_hash_and_verify():
    passwords = Passwords(**CHEAP)
    stored = passwords.hash("correct horse battery staple")
    assert stored != passwords.hash("correct horse battery staple")  # salted
    assert passwords.verify(stored, "correct horse battery staple")
    assert not passwords.verify(stored, "correct horse battery stapler")
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("not-a-hash", "anything")
    assert not passwords.needs_rehash(stored)


def test_stronger_parameters_ask_for_a_rehash():
    old = Passwords(**CHEAP).hash("correct horse battery staple")
    stronger = Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    assert stronger.verify(old, "correct horse battery staple")
    assert stronger.needs_rehash(old)


@pytest.mark.parametrize(
    "weak",
    ["short1!", "password123", "qwertyuiop", "1234567890", "aaaaaaaaaaaa", "Password2024"],
)
def test_weak_passwords_are_refused(weak):
    with pytest.raises(InvalidArgument) as refused:
        check_strength(weak)
    assert refused.value.field == "password"


def test_short_passwords_name_the_minimum():
    with pytest.raises(InvalidArgument, match="at least 10 characters"):
        check_strength("Tr0ub4d&3")


def test_passwords_built_from_the_users_own_details_are_refused():
    check_strength("Dana Lead Demo")  # fine for a stranger...
    with pytest.raises(InvalidArgument):  # ...but not for Dana at the demo school
        check_strength("Dana Lead Demo", user_inputs=("dsl@demo.haven.test", "Dana Lead"))


@pytest.mark.parametrize(
    "strong", ["correct horse battery staple", "Haven-demo-2026!", "mauve-kettle-orbit-91"]
)
def test_strong_passwords_are_accepted(strong):
    check_strength(strong, user_inputs=("someone@school.test", "Some One"))


def test_overlong_passwords_are_refused():
    with pytest.raises(InvalidArgument, match="at most"):
        check_strength("x" * 257)
