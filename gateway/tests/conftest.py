"""Fixtures: the fake platform (real gRPC servers on port 0) and a gateway app in front."""

from __future__ import annotations

import re

import pytest

from gateway.app import close_app, create_app
from gateway.tests.fakes import DSL, PASSWORD, TEACHER, TOTP, FakePlatform

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def platform():
    fakes = FakePlatform()
    yield fakes
    fakes.stop()


@pytest.fixture()
def app(platform):
    application = create_app(platform.gateway_settings(TESTING=True))
    yield application
    close_app(application)


@pytest.fixture()
def client(app):
    return app.test_client()


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def csrf(client, path: str = "/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def log_in(client, account=TEACHER, *, elevate: bool = False):
    response = client.post("/login", data={
        "email": account.email, "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    if elevate:
        token = csrf(client, "/elevate")
        response = client.post("/elevate", data={"code": TOTP, "csrf_token": token,
                                                 "next": "/"})
        assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture()
def teacher(client):
    log_in(client, TEACHER)
    return client


@pytest.fixture()
def dsl(client):
    log_in(client, DSL, elevate=True)
    return client
