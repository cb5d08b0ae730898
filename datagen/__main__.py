"""Write synthetic school fixtures: ``python -m datagen --pupils 300 --ctf school.xml``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from datagen import (
    feed_document,
    generate_school,
    write_ctf,
    write_staff_csv,
    write_students_csv,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datagen", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pupils", type=int, default=200)
    parser.add_argument("--phase", default="secondary",
                        choices=("primary", "secondary", "secondary_sixth"))
    parser.add_argument("--start-year", type=int, default=2025)
    parser.add_argument("--ctf-version", type=int, default=25, choices=range(20, 26))
    parser.add_argument("--school-id", default="00000000-0000-4000-8000-000000000001")
    parser.add_argument("--ctf", help="write a CTF XML file here")
    parser.add_argument("--json", help="write a full JSON feed here")
    parser.add_argument("--csv", help="write a students CSV file here")
    parser.add_argument("--staff-csv", help="write a staff CSV file here")
    parser.add_argument("--demo", action="store_true",
                        help="the demo school's roll as `python -m haven run` imports it "
                             "(--pupils, --seed, --phase and --start-year do not apply)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(),
                        help="with --demo: the day the roll is for (default today)")
    args = parser.parse_args(argv)
    if args.demo:
        from datagen.demo import demo_school

        school = demo_school(args.today)
    else:
        school = generate_school(seed=args.seed, pupils=args.pupils, phase=args.phase,
                                 start_year=args.start_year)
    if args.ctf:
        write_ctf(school, args.ctf, version=args.ctf_version)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(feed_document(school, school_id=args.school_id, staff=not args.demo,
                                    groups=not args.demo), fh)
    if args.csv:
        write_students_csv(school, args.csv)
    if args.staff_csv:
        write_staff_csv(school, args.staff_csv)
    if not (args.ctf or args.json or args.csv or args.staff_csv):
        parser.print_usage(sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
