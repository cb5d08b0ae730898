"""Unique Pupil Numbers: validation with the check letter (python-stdnum's ``gb.upn``).

A UPN is a check letter, the issuing LA number (3 digits), the school's establishment number
(4), the year of issue (2) and a serial (3). A temporary UPN has a 2-digit serial and ends in
a letter: it is valid, but flagged, because transfers cannot match pupils on it.

python-stdnum's list of LA numbers dates from 2011; LAs created since (Dorset 838,
Bournemouth, Christchurch and Poole 839, the Northamptonshires 940/941, Cumberland 942,
Westmorland and Furness 943) issue real UPNs too, so they are accepted here when the check
letter is right.
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum import exceptions as stdnum_errors
from stdnum.gb import upn as stdnum_upn

LA_NUMBERS_SINCE_2011 = frozenset({838, 839, 940, 941, 942, 943})


class InvalidUpn(ValueError):
    """The value is not a UPN; the message says why (safe to show an admin)."""


@dataclass(frozen=True)
class Upn:
    value: str
    temporary: bool


def check_upn(raw: str) -> Upn:
    value = stdnum_upn.compact(raw or "")
    if not value:
        raise InvalidUpn("the UPN is missing")
    try:
        stdnum_upn.validate(value)
    except stdnum_errors.InvalidLength as exc:
        raise InvalidUpn(f"UPN {value!r} is {len(value)} characters long, not 13") from exc
    except stdnum_errors.InvalidFormat as exc:
        raise InvalidUpn(
            f"UPN {value!r} is not a check letter, 11 digits and a final digit or letter"
        ) from exc
    except stdnum_errors.InvalidComponent as exc:
        if int(value[1:4]) not in LA_NUMBERS_SINCE_2011:
            raise InvalidUpn(
                f"UPN {value!r} names local authority {value[1:4]}, which is not an English LA"
            ) from exc
        if stdnum_upn.calc_check_digit(value[1:]) != value[0]:
            raise InvalidUpn(f"UPN {value!r} has the wrong check letter") from exc
    except stdnum_errors.InvalidChecksum as exc:
        raise InvalidUpn(f"UPN {value!r} has the wrong check letter") from exc
    except stdnum_errors.ValidationError as exc:  # pragma: no cover - future stdnum errors
        raise InvalidUpn(f"UPN {value!r} is not valid") from exc
    if value[0] in "IOS":  # pragma: no cover - the check alphabet excludes them
        raise InvalidUpn(f"UPN {value!r} has the wrong check letter")
    return Upn(value=value, temporary=value[-1].isalpha())
