"""Synthetic school data shared by tests and benchmarks (never real people).

``generate_school(seed=..., pupils=...)`` builds a deterministic school roll: plausible UK
names, valid UPNs (check letter via python-stdnum, some temporary), dates of birth matching
each year group, tutor and year groups, staff, contacts with relationships and phones, and a
school year of attendance session marks with a realistic spread of DfE codes. The writers
turn it into a CTF XML file, the JSON feed an MIS connector pushes, or CSV files.

    python -m datagen --pupils 300 --seed 7 --ctf var/school.xml --json var/feed.json \
        --csv var/students.csv
"""

from datagen.school import (
    Address,
    Contact,
    Group,
    Phone,
    Pupil,
    School,
    StaffMember,
    birth_window,
    corrupt_upn,
    generate_school,
    make_upn,
)
from datagen.writers import (
    STAFF_CSV_HEADERS,
    STUDENT_CSV_HEADERS,
    ctf_bytes,
    feed_bytes,
    feed_document,
    staff_csv_text,
    students_csv_text,
    write_ctf,
    write_staff_csv,
    write_students_csv,
)

__all__ = [
    "STAFF_CSV_HEADERS",
    "STUDENT_CSV_HEADERS",
    "Address",
    "Contact",
    "Group",
    "Phone",
    "Pupil",
    "School",
    "StaffMember",
    "birth_window",
    "corrupt_upn",
    "ctf_bytes",
    "feed_bytes",
    "feed_document",
    "generate_school",
    "make_upn",
    "staff_csv_text",
    "students_csv_text",
    "write_ctf",
    "write_staff_csv",
    "write_students_csv",
]
