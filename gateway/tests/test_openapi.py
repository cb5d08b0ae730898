"""The OpenAPI document describes exactly the routes under /api/v1, and what they answer."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from gateway.openapi import API_PREFIX, DOCUMENT
from gateway.tests.fakes import AVA, CAT_CP, DSL, PASSWORD, TEACHER, TOTP

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _documented() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in DOCUMENT["paths"].items()
            for method in item}


def _routed(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            found.add((path, method))
    return found


def test_every_api_route_is_documented_and_every_documented_route_exists(app):
    routed, documented = _routed(app), _documented()
    assert routed - documented == set(), "routes missing from gateway/openapi.py"
    assert documented - routed == set(), "documented routes that do not exist"
    assert len(routed) >= 17


def test_the_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json == DOCUMENT
    assert response.json["openapi"].startswith("3.1")


def test_schemas_are_valid_json_schema():
    for name, schema in DOCUMENT["components"]["schemas"].items():
        assert schema.get("type") == "object", name
        Draft202012Validator.check_schema(schema)


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves():
    for ref in _refs(DOCUMENT):
        assert ref.startswith("#/")
        node = DOCUMENT
        for part in ref[2:].split("/"):
            node = node[part]


def test_operations_are_well_formed():
    operation_ids = []
    for path, item in DOCUMENT["paths"].items():
        declared = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op["responses"], (path, method)
            assert any(code.startswith("2") for code in op["responses"]), (path, method)
            params = op.get("parameters", [])
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == declared, (path, method)
            for p in params:
                assert p["in"] in ("path", "query") and "schema" in p
                assert p["required"] is True or p["in"] != "path"
            if method == "post" and "requestBody" in op:
                assert "400" in op["responses"]
            public = op.get("security") == []
            assert public == (path.startswith(API_PREFIX + "/auth/")
                              or path == API_PREFIX + "/openapi.json"), path
            if not public:
                assert "401" in op["responses"], path
    assert len(operation_ids) == len(set(operation_ids))


def _response_schema(path: str, method: str, status: int):
    op = DOCUMENT["paths"][path][method]
    response = op["responses"][str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content", {}).get("application/json", {})
    return content.get("schema")


def _check(response, path: str, method: str):
    schema = _response_schema(path, method, response.status_code)
    if schema is None:
        assert not response.data, (path, response.status_code)
        return
    validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    errors = sorted(validator.iter_errors(response.json), key=str)
    assert not errors, (path, method, response.status_code, [e.message for e in errors])


def test_answers_match_their_documented_schemas(client, platform):
    p = API_PREFIX
    login = client.post(f"{p}/auth/login", json={"email": DSL.email, "password": PASSWORD})
    _check(login, f"{p}/auth/login", "post")
    sid = login.json["session_id"]
    _check(client.post(f"{p}/auth/login", json={"email": "x@y.z", "password": "n"}),
           f"{p}/auth/login", "post")
    _check(client.post(f"{p}/auth/login", json={"email": 1}), f"{p}/auth/login", "post")
    elevated = client.post(f"{p}/auth/elevate", json={"session_id": sid, "code": TOTP})
    _check(elevated, f"{p}/auth/elevate", "post")
    _check(client.post(f"{p}/auth/refresh", json={"session_id": sid}), f"{p}/auth/refresh",
           "post")
    full = {"Authorization": f"Bearer {elevated.json['access_token']}"}
    teacher_login = client.post(f"{p}/auth/login",
                                json={"email": TEACHER.email, "password": PASSWORD})
    teacher = {"Authorization": f"Bearer {teacher_login.json['access_token']}"}

    created = client.post(f"{p}/incidents", headers=teacher, json={
        "student_id": AVA, "text": "Concern", "category_ids": [CAT_CP],
        "alert_account_ids": [DSL.account_id]})
    _check(created, f"{p}/incidents", "post")
    incident_id = created.json["id"]
    alert_id = next(iter(platform.records.alerts))
    checks = [
        (client.get(f"{p}/me", headers=full), f"{p}/me", "get"),
        (client.get(f"{p}/me/history", headers=teacher), f"{p}/me/history", "get"),
        (client.get(f"{p}/students?q=a", headers=full), f"{p}/students", "get"),
        (client.get(f"{p}/students?q=a", headers=teacher), f"{p}/students", "get"),
        (client.get(f"{p}/students?limit=0", headers=full), f"{p}/students", "get"),
        (client.get(f"{p}/students/{AVA}", headers=full), f"{p}/students/{{student_id}}", "get"),
        (client.get(f"{p}/students/nope", headers=full), f"{p}/students/{{student_id}}", "get"),
        (client.get(f"{p}/students/{AVA}/chronology", headers=full),
         f"{p}/students/{{student_id}}/chronology", "get"),
        (client.get(f"{p}/students/{AVA}/chronology", headers=teacher),
         f"{p}/students/{{student_id}}/chronology", "get"),
        (client.get(f"{p}/categories", headers=full), f"{p}/categories", "get"),
        (client.get(f"{p}/staff", headers=full), f"{p}/staff", "get"),
        (client.get(f"{p}/incidents/{incident_id}", headers=full),
         f"{p}/incidents/{{incident_id}}", "get"),
        (client.get(f"{p}/alerts", headers=full), f"{p}/alerts", "get"),
        (client.get(f"{p}/alerts"), f"{p}/alerts", "get"),
        (client.post(f"{p}/alerts/{alert_id}/read", headers=full),
         f"{p}/alerts/{{alert_id}}/read", "post"),
        (client.get(f"{p}/reporting/overview?from=2026-01-01", headers=full),
         f"{p}/reporting/overview", "get"),
        (client.post(f"{p}/incidents", headers=teacher, json={"student_id": 1}),
         f"{p}/incidents", "post"),
    ]
    for response, path, method in checks:
        _check(response, path, method)
    _check(client.post(f"{p}/auth/logout", json={"session_id": sid}), f"{p}/auth/logout",
           "post")
