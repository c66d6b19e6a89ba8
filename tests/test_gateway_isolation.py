"""Two clients through a real `mediavault gateway` in front of the real functions stay apart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mediavault.devstack.oauth import FakeDiscord, ServedApp, provider_environment
from mediavault.devstack.services import function_specs
from tests.api_fixtures import MakeUser
from tests.gateway_fixtures import assert_json_error, raw_request, start_gateway
from tests.harness import ProcessGroup, Stack, free_port, function_ports, layout_for, poll

FUNCTIONS = ("auth", "collections", "share")


@dataclass
class Gatewayed:
    """The gateway's URL, and who the development provider signs in next."""

    url: str
    discord: FakeDiscord


@pytest.fixture(scope="module")
def gatewayed(stack: Stack) -> Iterator[Gatewayed]:
    discord = FakeDiscord()
    provider = ServedApp(discord)
    discord.base_url = provider.base_url
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **stack.env,
        "API_BASE_URL": url,
        "FRONTEND_URL": url,
        "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(function_ports()),
        **provider_environment(provider.base_url),
    }
    layout = layout_for(env)
    log_dir = stack.layout.data_dir / f"gateway-{uuid.uuid4().hex[:6]}"
    log_dir.mkdir()
    processes = ProcessGroup(log_dir, env)
    try:
        specs = [s for s in function_specs(layout, stack.binaries) if s.name[3:] in FUNCTIONS]
        for spec in specs:
            processes.start(spec)
        upstreams = {name: layout.function_url(name) for name in FUNCTIONS}
        yield Gatewayed(start_gateway(processes, upstreams, port), discord)
    finally:
        processes.stop_all()
        provider.stop()


def _browser(gatewayed: Gatewayed) -> httpx.Client:
    """A browser-like client with its own cookies, speaking to the gateway."""
    return httpx.Client(
        base_url=gatewayed.url,
        follow_redirects=True,
        timeout=20.0,
        headers={"Origin": gatewayed.url},
    )


def test_an_anonymous_client_stays_anonymous_after_another_signs_in(gatewayed: Gatewayed) -> None:
    name = f"gw-{uuid.uuid4().hex[:8]}"
    gatewayed.discord.user = {"id": str(uuid.uuid4().int)[:18], "username": name, "avatar": None}
    with _browser(gatewayed) as signed_in, _browser(gatewayed) as anonymous:
        signed_in.get("/api/auth/login")
        me = signed_in.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == name

        # Through the same gateway, the second client has no session of anyone's.
        assert anonymous.get("/api/auth/me").status_code == 401
        minted = anonymous.post("/api/auth/tokens", json={"name": "stolen"})
        assert minted.status_code == 401, minted.text
        assert minted.json()["error"]["code"] == "unauthorized"
        assert not anonymous.cookies
        # The signed-in one still is.
        assert signed_in.get("/api/auth/me").status_code == 200


def test_unlocking_a_shared_link_unlocks_it_for_that_viewer_only(
    gatewayed: Gatewayed, make_user: MakeUser
) -> None:
    owner = make_user()
    with httpx.Client(base_url=gatewayed.url, headers=owner.headers, timeout=20.0) as api:
        collection = api.post("/api/collections", json={"title": "Locked"})
        assert collection.status_code == 201, collection.text
        share = api.post(
            f"/api/collections/{collection.json()['id']}/shares", json={"password": "open sesame"}
        )
        assert share.status_code == 201, share.text
    view = f"/api/share/{share.json()['token']}"
    with _browser(gatewayed) as first, _browser(gatewayed) as second:
        assert first.get(view).status_code == 401
        unlocked = first.post(view + "/unlock", json={"password": "open sesame"})
        assert unlocked.status_code == 204, unlocked.text
        assert first.get(view).status_code == 200

        locked = second.get(view)
        assert locked.status_code == 401
        assert locked.json()["error"]["code"] == "password_required"


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer ", b"Bearer", b"Bearer   ", b"Bearer caf\xc3\xa9", b"Bearer \xff\xfe",
     b"Basic Zm9vOmJhcg==", b"mvt_no_scheme", b"Bearer a b"],
    ids=["bearer-space", "bearer-alone", "bearer-spaces", "utf8", "latin1", "basic",
         "no-scheme", "two-words"],
)  # fmt: skip
def test_a_malformed_authorization_is_a_json_401(
    gatewayed: Gatewayed, authorization: bytes
) -> None:
    for path in (b"/api/auth/me", b"/api/collections"):
        head = (
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )  # fmt: skip
        error = assert_json_error(raw_request(gatewayed.url, head), 401)
        assert error["code"] == "unauthorized"


@pytest.mark.parametrize(
    "host", [b"two words", b"caf\xc3\xa9.example", b"a:1:2", b"<script>", b""], ids=repr
)
def test_a_bad_host_is_a_json_400(gatewayed: Gatewayed, host: bytes) -> None:
    head = b"GET /api/auth/me HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    response = raw_request(gatewayed.url, head)
    if host == b"":
        # No host at all is what HTTP/1.0 clients send: the function answers as usual.
        assert_json_error(response, 401)
    else:
        assert_json_error(response, 400)


def test_the_functions_are_reached_through_the_gateway(gatewayed: Gatewayed) -> None:
    poll(
        lambda: httpx.get(gatewayed.url + "/api/share/nope").status_code == 404,
        "the share function through the gateway",
    )
