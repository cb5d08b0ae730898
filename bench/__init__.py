"""Benchmarks: ``python -m bench`` (``make bench``) runs every ``bench/<name>.py``'s ``run()``.

Each ``run()`` returns a list of results: ``{"name": ..., "figures": {label: value},
"ratios": {label: value}, "targets": {label: "< 4"}}``. Figures are measured on this machine;
the ratios (against the floor the same machine allows, e.g. parsing the file alone) are what
to compare between machines. Results are printed as a table and written as JSON to
``bench/results/`` (gitignored).
"""
