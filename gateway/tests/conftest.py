"""Fixtures: the fake platform (real gRPC servers on port 0) and a gateway app in front."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest

from gateway.app import close_app, create_app
from gateway.tests.fakes import DSL, PASSWORD, TEACHER, TOTP, FakePlatform

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOG_IN = re.compile(r'<a class="button button-primary" href="([^"]+)">(?:Log in|Try again)</a>')


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


def csrf(client, path: str = "/") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def login_form(client, start: str = "/login", **kwargs):
    """Start the web login: the gateway sends the browser to identity's authorize page
    (proxied, same origin). Returns (the authorize path, identity's login page)."""
    started = client.get(start, **kwargs)
    if started.status_code == 200:  # "You have logged out." and a Log in button: press it
        button = _LOG_IN.search(started.get_data(as_text=True))
        assert button, started.get_data(as_text=True)
        started = client.get(html.unescape(button.group(1)), **kwargs)
    assert started.status_code == 302, started.get_data(as_text=True)
    authorize = started.headers["Location"]
    assert authorize.startswith("/oauth/authorize?"), authorize
    page = client.get(authorize, **kwargs)
    assert page.status_code == 200, page.get_data(as_text=True)
    return authorize, page


def submit_login(client, authorize: str, page, email: str, password: str = PASSWORD,
                 **kwargs):
    """Fill in identity's login form and send it (through the gateway)."""
    return client.post(authorize, data={
        "email": email, "password": password,
        "csrf_token": csrf_from(page.get_data(as_text=True))}, **kwargs)


def log_in(client, account=TEACHER, *, elevate: bool = False, start: str = "/login",
           **kwargs):
    """The whole web login as a browser walks it: /login -> identity's form -> its answer
    (a redirect to the gateway's callback with a code) -> the callback -> the page."""
    authorize, page = login_form(client, start, **kwargs)
    answer = submit_login(client, authorize, page, account.email, **kwargs)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    callback = urlsplit(answer.headers["Location"])  # absolute: the gateway's redirect URI
    assert callback.path == "/auth/callback", callback
    response = client.get(f"{callback.path}?{callback.query}", **kwargs)
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
