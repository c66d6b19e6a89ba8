"""The web function: the built app's files, the SPA fallback, caching and the CSP."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from mediavault.api.web import WebApp
from mediavault.spa import Site

STORAGE = "https://s3.vault.example.org"
BOOT = b"import('/_app/immutable/entry/start.abc.js')"
ROOT = Path(__file__).resolve().parent.parent


def _build(root: Path) -> Path:
    (root / "_app" / "immutable" / "entry").mkdir(parents=True)
    (root / "index.html").write_bytes(
        b"<!doctype html><html><head><link href=/_app/immutable/entry/start.abc.js></head>"
        b"<body><div><script>" + BOOT + b"</script></div>" + b" " * 2000 + b"</body></html>"
    )
    (root / "_app" / "immutable" / "entry" / "start.abc.js").write_text(
        "export const t = '<div style=\"position: absolute\">';" + " " * 2000
    )
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root.parent / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
def client(tmp_path: Path) -> Client:
    app = WebApp(Site.load(_build(tmp_path / "build"), STORAGE))

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        response: Response = app(Request(environ))
        return response(environ, start_response)

    return Client(wsgi)


def test_client_routes_get_the_page_with_a_strict_csp(client: Client) -> None:
    for path in ("/", "/collections/5d2c", "/tokens", "/index.html"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.mimetype == "text/html"
        assert response.headers["X-MediaVault-Function"] == "web"
    csp = client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"].startswith("'self' 'sha256-")
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert directives["media-src"] == STORAGE
    assert directives["connect-src"] == f"'self' {STORAGE}"
    assert directives["img-src"] == f"'self' {STORAGE}"
    assert directives["style-src-attr"].startswith("'unsafe-hashes' 'sha256-")
    assert directives["frame-ancestors"] == "'none'"
    # Not no-referrer: that would make same-origin POSTs carry `Origin: null`.
    assert client.get("/").headers["Referrer-Policy"] == "same-origin"


def test_the_bootstraps_hash_is_the_only_script_source_besides_self(client: Client) -> None:
    import base64
    import hashlib

    csp = client.get("/").headers["Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(BOOT).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in csp


def test_hashed_assets_are_immutable_and_gzipped_with_etags(client: Client) -> None:
    path = "/_app/immutable/entry/start.abc.js"
    response = client.get(path, headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "gzip"
    assert "javascript" in (response.mimetype or "")
    assert gzip.decompress(response.data).startswith(b"export const t")
    plain = client.get(path)
    assert "Content-Encoding" not in plain.headers
    again = client.get(path, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert client.get("/favicon.svg").headers["Cache-Control"] == "no-cache"


def test_missing_files_api_paths_and_escapes_are_404_json_never_the_page(client: Client) -> None:
    for path in (
        "/_app/immutable/entry/gone.js",
        "/_app/version.json",
        "/robots.txt",
        "/api/unknown",
        "/s/token",
        "/%2e%2e/secret.txt",
        "/_app/../../secret.txt",
        "/.hidden",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json is not None
        assert response.json["error"]["code"] == "not_found"


def test_only_get_and_head(client: Client) -> None:
    response = client.post("/", data=b"{}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    head = client.head("/")
    assert head.status_code == 200
    assert head.data == b""


def test_health_needs_no_database_or_storage(client: Client) -> None:
    # No PostgreSQL or MinIO exists for this app at all: its health is its build.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "function": "web", "checks": {"build": "ok"}}
    client.get("/collections")
    metrics = client.get("/metrics").data.decode()
    assert 'route="/<page>"' in metrics


def test_a_rebuild_is_served_without_a_restart(tmp_path: Path) -> None:
    import os

    root = _build(tmp_path / "build")
    site = Site.load(root, STORAGE)
    before = site.csp_for(site.index())
    index = root / "index.html"
    index.write_bytes(index.read_bytes().replace(b"abc", b"def"))
    os.utime(index, ns=(1, 1))
    assert b"def" in site.index().body
    assert site.csp_for(site.index()) != before


def test_the_real_build_is_what_the_function_serves() -> None:
    build = ROOT / "web" / "build"
    site = Site.load(build, STORAGE)
    index = site.index().body
    assert b'<script type="module"' not in index or b"src=" in index
    assert b"_app/immutable/" in index
    csp = site.csp_for(site.index())
    assert csp.count("'sha256-") >= 1
