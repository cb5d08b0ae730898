"""Run the benchmarks: ``python -m bench [name ...]`` (default: all of ``bench/*.py``)."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import bench

RESULTS = Path(__file__).parent / "results"


def _modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                   if not m.name.startswith("_"))
    if selected:
        unknown = [s for s in selected if s not in names]
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)} (have {names})")
        return selected
    return names


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def print_table(results: list[dict]) -> None:
    rows = []
    for result in results:
        targets = result.get("targets", {})
        for kind in ("figures", "ratios"):
            for label, value in result.get(kind, {}).items():
                rows.append((result["name"], label, _fmt(value), targets.get(label, "")))
    widths = [max(len(r[i]) for r in rows + [("benchmark", "measure", "value", "target")])
              for i in range(4)]
    header = ("benchmark", "measure", "value", "target")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args(argv)
    results: list[dict] = []
    for name in _modules(args.names):
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        out = module.run()
        results.extend(out if isinstance(out, list) else [out])
        print(f"  {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if not results:
        print("no benchmarks", file=sys.stderr)
        return 1
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    payload = json.dumps({"at": stamp, "results": results}, indent=2)
    (RESULTS / f"{stamp}.json").write_text(payload)
    (RESULTS / "latest.json").write_text(payload)
    failed = [r["name"] for r in results if r.get("passed") is False]
    if failed:
        print(f"targets missed: {', '.join(failed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
