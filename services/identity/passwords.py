"""Passwords: argon2id hashing (with rehash when parameters change) and a strength check."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type
from zxcvbn import zxcvbn

from shared.errors import InvalidArgument

MIN_LENGTH = 10
MAX_LENGTH = 256  # long enough for any passphrase; bounds the work one request can cause
MIN_SCORE = 3  # zxcvbn 0..4: 3 is "safely unguessable: moderate protection from offline attack"


class Passwords:
    """argon2id with the deployment's cost parameters (RFC 9106 defaults)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches. With no hash, spends the same time and says no."""
        if not stored_hash:
            self._burn(password)
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def _burn(self, password: str) -> None:
        # An unknown email must cost as much as a wrong password, or timing reveals accounts.
        if self._dummy is None:
            self._dummy = self._hasher.hash("haven-dummy-password-for-timing")
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy, password)


def strength_problems(
    password: str, *, user_inputs: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """Why a password would be refused (empty when it is strong enough).

    ``user_inputs`` (email, name, school) count as known words: a password built from them
    is weak.
    """
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters for your password."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters for your password."]
    inputs = []
    for value in user_inputs:
        if value:
            inputs.append(value)
            inputs.extend(part for part in value.replace("@", " ").replace(".", " ").split())
    result = zxcvbn(password[:100], user_inputs=inputs)
    if result["score"] >= MIN_SCORE:
        return []
    feedback = result.get("feedback") or {}
    problems = ["That password is too easy to guess."]
    if feedback.get("warning"):
        problems.append(feedback["warning"])
    problems.extend(feedback.get("suggestions") or ["Try a longer phrase of unrelated words."])
    return problems


def check_strength(password: str, *, user_inputs: list[str] | tuple[str, ...] = ()) -> None:
    """Refuse a password that is too short, too long or easy to guess (raises InvalidArgument
    whose message gives the reasons)."""
    problems = strength_problems(password, user_inputs=user_inputs)
    if problems:
        raise InvalidArgument(" ".join(problems), field="password")
