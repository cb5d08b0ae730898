"""The Helm chart, skaffold.yaml and the Dockerfiles, checked offline (no Docker, no cluster).

Renders go through deploy/chart_check.py (the helm binary from the aws-cdk kubectl-layer
wheel), so these tests and `make chart-check` see the same manifests.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1]
REPO = DEPLOY.parent
CHART = DEPLOY / "helm" / "haven"
RELEASE = "haven"
SERVICES = {  # kebab-case name -> python package
    "identity": "identity",
    "records": "records",
    "reporting": "reporting",
    "mis-import": "mis_import",
    "transfers": "transfers",
    "notifications": "notifications",
}
DOCKERFILES = {
    **{name: REPO / "services" / pkg / "Dockerfile" for name, pkg in SERVICES.items()},
    "gateway": REPO / "gateway" / "Dockerfile",
}
GRPC_PORT = 50051


def _load_chart_check():
    spec = importlib.util.spec_from_file_location("chart_check", DEPLOY / "chart_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("chart_check", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return sys.modules["chart_check"]


cc = _load_chart_check()
VALUES = {cc.values_label(v): v for v in cc.values_files(CHART)}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list]:
    """Every values file rendered once: label -> [Manifest]."""
    return {label: cc.render(CHART, values) for label, values in VALUES.items()}


def _of_kind(manifests, kind):
    return [m.doc for m in manifests if m.doc["kind"] == kind]


def _pods(manifests):
    """(object, pod spec) of every workload."""
    return [
        (m.doc, m.doc["spec"]["template"]["spec"])
        for m in manifests
        if m.doc["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}
    ]


def _selects(selector: dict, labels: dict) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, value = expr["key"] in labels, labels.get(expr["key"])
        match expr["operator"]:
            case "In":
                ok = value in expr["values"]
            case "NotIn":
                ok = value not in expr["values"]
            case "Exists":
                ok = present
            case "DoesNotExist":
                ok = not present
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------- chart_check


def test_chart_check_passes_on_the_real_chart():
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "chart_check.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "chart-check: OK" in out
    for label in VALUES:
        for step in ("lint", "template", "validate"):
            assert re.search(rf"^\s+{step}\s+{re.escape(label)}\s", out, re.M), (
                f"{step} {label} not reported"
            )
    assert "skaffold.yaml schema" in out and "skaffold.yaml wiring" in out


def _copy_chart(tmp_path: Path) -> Path:
    copy = tmp_path / "haven"
    shutil.copytree(CHART, copy)
    return copy


def test_chart_check_fails_on_an_unknown_container_field(tmp_path, capsys):
    chart = _copy_chart(tmp_path)
    template = chart / "templates" / "gateway.yaml"
    text = template.read_text()
    line = re.search(r"^( +)imagePullPolicy: .*$", text, re.M)
    assert line, "gateway.yaml has no imagePullPolicy line to put a typo beside"
    template.write_text(
        text[: line.start()] + f"{line.group(1)}imagePullPolciy: Always\n" + text[line.start() :]
    )

    assert cc.main(["--chart", str(chart), "--no-skaffold"]) == 1
    err = capsys.readouterr().err
    assert "imagePullPolciy" in err
    assert "Deployment/haven-gateway" in err and "spec.template.spec.containers.0" in err
    assert "FAILED" in err


def test_chart_check_fails_on_a_misspelt_value(tmp_path, capsys):
    chart = _copy_chart(tmp_path)
    (chart / "ci" / "values-typo.yaml").write_text(
        "services:\n  records:\n    api:\n      replica: 3\n"
    )

    assert cc.main(["--chart", str(chart), "--no-skaffold"]) == 1
    err = capsys.readouterr().err
    assert "lint ci/values-typo.yaml" in err and "replica" in err


def test_chart_check_fails_when_skaffold_does_not_drive_an_image():
    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    templates = config["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    del templates["services.records.image.repository"]
    problems, _ = cc.check_skaffold_wiring(REPO / "skaffold.yaml", CHART, config)
    assert any("haven-records" in p and "not the built image" in p for p in problems), problems


# --------------------------------------------------------------------------- rendered output


@pytest.mark.parametrize("label", VALUES)
def test_every_container_is_bounded_and_locked_down(rendered, label):
    pods = _pods(rendered[label])
    assert pods
    for obj, pod in pods:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert pod.get("automountServiceAccountToken") is False, where
        pod_sc = pod.get("securityContext") or {}
        assert (pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where
        for c in pod.get("initContainers", []) + pod["containers"]:
            at = f"{where} container {c['name']}"
            requests, limits = c["resources"].get("requests", {}), c["resources"].get("limits", {})
            assert {"cpu", "memory"} <= requests.keys(), at
            assert {"cpu", "memory"} <= limits.keys(), at
            sc = c.get("securityContext") or {}
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, at
            assert sc.get("readOnlyRootFilesystem") is True, at
            assert sc.get("allowPrivilegeEscalation") is False, at
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], at
            # Writable /tmp is the only place processes write.
            assert any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])), at


@pytest.mark.parametrize("label", VALUES)
def test_each_service_has_api_worker_and_migration(rendered, label):
    manifests = rendered[label]
    workloads = {
        m.doc["metadata"]["name"]: m.doc["spec"]["template"]["spec"]["containers"][0]
        for m in manifests
        if m.doc["kind"] in {"Deployment", "Job"}
    }
    services = {s["metadata"]["name"]: s for s in _of_kind(manifests, "Service")}
    for name, pkg in SERVICES.items():
        api = workloads[f"{RELEASE}-{name}-api"]
        assert api["command"] == ["python", "-m", f"services.{pkg}"] and api["args"] == ["api"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert api[probe]["grpc"]["port"] == GRPC_PORT, (name, probe)
        worker = workloads[f"{RELEASE}-{name}-worker"]
        assert worker["args"] == ["worker"]
        assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert all(p["containerPort"] != GRPC_PORT for p in worker["ports"])
        ports = {p["name"]: p["port"] for p in services[f"{RELEASE}-{name}"]["spec"]["ports"]}
        expected = {"grpc": GRPC_PORT, "metrics": 9100}
        if name == "identity":  # its OAuth2/OIDC provider, reached through the gateway
            expected["oidc"] = 8101
        assert ports == expected
        assert workloads[f"{RELEASE}-{name}-migrate"]["args"] == ["migrate"]
    gateway = workloads[f"{RELEASE}-gateway"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"
    assert any(m["mountPath"] == "/tmp/prometheus" for m in gateway["volumeMounts"])


@pytest.mark.parametrize("label", VALUES)
def test_migration_jobs_are_pre_install_and_pre_upgrade_hooks(rendered, label):
    manifests = rendered[label]
    jobs = _of_kind(manifests, "Job")
    assert sorted(j["metadata"]["labels"]["app.kubernetes.io/name"] for j in jobs) == sorted(
        SERVICES
    )
    for job in jobs:
        notes = job["metadata"]["annotations"]
        assert set(notes["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
        assert set(notes["helm.sh/hook-delete-policy"].split(",")) == {
            "before-hook-creation",
            "hook-succeeded",
        }
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Whatever the Jobs need must exist before them: hooks of a lower weight.
    weight = {
        (m.doc["kind"], m.doc["metadata"]["name"]): int(
            (m.doc["metadata"].get("annotations") or {}).get("helm.sh/hook-weight", 0)
        )
        for m in manifests
        if "helm.sh/hook" in (m.doc["metadata"].get("annotations") or {})
    }
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        needed = [("ServiceAccount", pod["serviceAccountName"])]
        needed += [
            ("Secret", e["valueFrom"]["secretKeyRef"]["name"])
            for e in pod["containers"][0]["env"]
            if "valueFrom" in e
        ]
        for kind, name in needed:
            rendered_here = any(
                m.doc["kind"] == kind and m.doc["metadata"]["name"] == name for m in manifests
            )
            if rendered_here:  # else it is an existing object (existingSecret)
                assert weight.get((kind, name), 0) < weight[("Job", job["metadata"]["name"])], (
                    kind,
                    name,
                )


def test_reporting_api_scales_on_cpu(rendered):
    for label in ("values.yaml", "ci/values-production.yaml"):
        hpas = _of_kind(rendered[label], "HorizontalPodAutoscaler")
        reporting = [
            h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-reporting-api"
        ]
        assert len(reporting) == 1, label
        spec = reporting[0]["spec"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        assert spec["metrics"][0]["resource"]["name"] == "cpu"
        deployment = next(
            d
            for d in _of_kind(rendered[label], "Deployment")
            if d["metadata"]["name"] == f"{RELEASE}-reporting-api"
        )
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    minimal = rendered["ci/values-minimal.yaml"]
    assert not _of_kind(minimal, "HorizontalPodAutoscaler")
    assert all(d["spec"]["replicas"] == 1 for d in _of_kind(minimal, "Deployment"))


@pytest.mark.parametrize("label", VALUES)
def test_grpc_port_admits_only_this_releases_pods(rendered, label):
    manifests = rendered[label]
    policies = _of_kind(manifests, "NetworkPolicy")
    api_pods = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in _of_kind(manifests, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    ]
    release_pods = [obj["spec"]["template"]["metadata"]["labels"] for obj, _ in _pods(manifests)]
    assert len(api_pods) == len(SERVICES)

    # Default deny: a policy with no ingress rule isolates every pod of the release.
    deny_all = [
        p
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress")
    ]
    for pod in release_pods:
        assert any(_selects(p["spec"]["podSelector"], pod) for p in deny_all), pod

    # Every rule that opens the gRPC port of an api pod names only pods of this release.
    admitting = []
    for policy in policies:
        if "Ingress" not in policy["spec"]["policyTypes"]:
            continue
        if not any(_selects(policy["spec"]["podSelector"], pod) for pod in api_pods):
            continue
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (GRPC_PORT, "grpc") for p in ports):
                continue
            peers = rule.get("from")
            assert peers, f"{policy['metadata']['name']}: opens gRPC to anyone"
            for peer in peers:
                assert set(peer) == {"podSelector"}, f"{policy['metadata']['name']}: {peer}"
                labels = peer["podSelector"]["matchLabels"]
                assert labels.get("app.kubernetes.io/instance") == RELEASE, peer
            admitting.append(policy["metadata"]["name"])
    assert admitting, "no NetworkPolicy lets the gateway reach the services"
    # ... and the gateway (a release pod) is among those admitted.
    gateway = next(
        d["spec"]["template"]["metadata"]["labels"]
        for d in _of_kind(manifests, "Deployment")
        if d["metadata"]["name"] == f"{RELEASE}-gateway"
    )
    for policy in policies:
        if policy["metadata"]["name"] in admitting:
            assert any(
                _selects(peer["podSelector"], gateway)
                for rule in policy["spec"]["ingress"]
                for peer in rule["from"]
            )


@pytest.mark.parametrize("label", VALUES)
def test_wiring_between_objects_holds(rendered, label):
    """Addresses point at Services, selectors at pods, secret refs at Secrets that exist."""
    manifests = rendered[label]
    services = {s["metadata"]["name"]: s for s in _of_kind(manifests, "Service")}
    secrets = {s["metadata"]["name"]: s for s in _of_kind(manifests, "Secret")}
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in _of_kind(manifests, "Deployment")
    ]
    for name, svc in services.items():
        assert any(_selects({"matchLabels": svc["spec"]["selector"]}, pod) for pod in pod_labels), (
            name
        )
    for deployment in _of_kind(manifests, "Deployment"):
        spec = deployment["spec"]
        assert _selects(spec["selector"], spec["template"]["metadata"]["labels"])
    for obj, pod in _pods(manifests):
        for c in pod["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            for var, entry in env.items():
                if var.startswith("HAVEN_") and var.endswith("_ADDR"):
                    host, port = entry["value"].rsplit(":", 1)
                    assert host in services, (var, entry["value"])
                    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] in secrets:
                    assert ref["key"] in secrets[ref["name"]]["data"], (
                        obj["metadata"]["name"],
                        ref,
                    )
            expected = {f"HAVEN_{n.replace('-', '_').upper()}_ADDR" for n in SERVICES} | {
                "HAVEN_LOG_LEVEL"
            }
            assert expected <= env.keys(), (obj["metadata"]["name"], expected - env.keys())
    if label == "ci/values-production.yaml":
        assert not secrets, "production uses an existing Secret"
        assert _of_kind(manifests, "Ingress")


# --------------------------------------------------------------------------- images


def _final_stage(dockerfile: Path) -> list[str]:
    lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    start = max(i for i, ln in enumerate(lines) if ln.startswith("FROM "))
    return [ln.strip() for ln in lines[start:] if ln.strip() and not ln.lstrip().startswith("#")]


def test_skaffold_builds_every_image_from_its_dockerfile():
    config = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert sorted(artifacts) == sorted(f"haven-{n}" for n in DOCKERFILES)
    for name, dockerfile in DOCKERFILES.items():
        art = artifacts[f"haven-{name}"]
        assert art["context"] == "."
        assert (REPO / art["docker"]["dockerfile"]) == dockerfile


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_shape(name):
    dockerfile = DOCKERFILES[name]
    text = dockerfile.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    assert "pip install -r /tmp/requirements.txt" in text
    assert "python -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen" in text
    final = _final_stage(dockerfile)
    assert re.fullmatch(r"USER \d+:\d+", [ln for ln in final if ln.startswith("USER ")][-1])
    assert "PYTHONPATH=/app:/app/gen" in " ".join(final)
    copies = [ln.split()[1:] for ln in final if ln.startswith("COPY ") and "--from" not in ln]
    own = "gateway/" if name == "gateway" else f"services/{SERVICES[name]}/"
    assert ["shared/", "shared/"] in copies and [own, own] in copies
    assert not any(src.startswith(("haven/", "gen/")) for src, _ in copies), (
        "launcher/gen are not copied"
    )


def test_dockerignore_keeps_local_state_out_but_not_what_images_copy():
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for needed in (".venv", "var", "gen", ".git", ".tools", "**/__pycache__", "**/tests"):
        assert needed in patterns, needed
    sources = {
        src
        for d in DOCKERFILES.values()
        for ln in _final_stage(d) + d.read_text().splitlines()
        if ln.startswith("COPY ") and "--from" not in ln
        for src in ln.split()[1:-1]
    }
    for src in sources | {"requirements.txt", "protos/"}:
        assert not any(fnmatch.fnmatch(src.rstrip("/"), p) for p in patterns), src


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """protos compiled exactly as the Dockerfiles do it."""
    gen = tmp_path_factory.mktemp("image") / "gen"
    gen.mkdir()
    protos = sorted(str(p.relative_to(REPO)) for p in (REPO / "protos").rglob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-Iprotos",
            f"--python_out={gen}",
            f"--grpc_python_out={gen}",
            *protos,
        ],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    return gen


@pytest.mark.parametrize("name", DOCKERFILES)
def test_image_layout_imports(name, generated, tmp_path):
    """Lay /app out as the Dockerfile's COPY lines do and import what the CMD runs, with
    PYTHONPATH=/app:/app/gen and no /app/haven: catches a missing COPY or a module the
    image lacks, without Docker."""
    module = "gateway.app" if name == "gateway" else f"services.{SERVICES[name]}.app"
    if not (REPO / (module.replace(".", "/") + ".py")).exists():
        pytest.skip(f"{module} is not written yet")
    app = tmp_path / "app"
    shutil.copytree(generated, app / "gen")
    ignore = shutil.ignore_patterns("tests", "__pycache__", "*.pyc")
    for line in _final_stage(DOCKERFILES[name]):
        if not line.startswith("COPY ") or "--from" in line:
            continue
        src, dest = line.split()[1:]
        source, target = REPO / src, app / dest
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        else:
            target = target / source.name if dest.endswith("/") else target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (app / "haven").exists()
    # -S: no .pth files, so the dev checkout (haven-dev.pth) is not on the path.
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    code = (
        f"import sys; sys.path[1:1] = [{str(app)!r}, {str(app / 'gen')!r}, *{site_dirs!r}]\n"
        f"import {module}, haven\n"
        f"assert list(haven.__path__) == [{str(app / 'gen' / 'haven')!r}], haven.__path__\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
