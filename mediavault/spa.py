"""The web app's built files (web/build): what each path serves, its caching and its CSP."""

from __future__ import annotations

import base64
import gzip
import hashlib
import mimetypes
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from mediavault.errors import MediaVaultError

INDEX = "index.html"
# SvelteKit puts every content-hashed file under _app/immutable/: it never changes in place.
IMMUTABLE_PREFIX = "_app/immutable/"
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything else (index.html, favicon, version.json) is revalidated on each use.
REVALIDATE = "no-cache"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)
# A style attribute inside a compiled component template (SvelteKit's route announcer has one).
_STYLE_ATTRIBUTE = re.compile(rb'style="([^"<>]*)"')
_COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".txt", ".map", ".webmanifest")
_MIN_GZIP_BYTES = 1024


class BuildMissing(MediaVaultError):
    """The web app has not been built (no index.html in the build directory)."""


@dataclass(frozen=True)
class StaticFile:
    """One file to send: bytes, type, validator, caching, optional gzip variant."""

    body: bytes
    content_type: str
    etag: str
    cache_control: str
    gzipped: bytes | None = None


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def inline_script_hashes(html: bytes) -> tuple[str, ...]:
    """CSP sources (`'sha256-…'`) for each inline script: SvelteKit's bootstrap is one."""
    return tuple(_sha256_source(body) for body in _INLINE_SCRIPT.findall(html))


def _sha256_source(body: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"


def static_style_hashes(root: Path) -> tuple[str, ...]:
    """Hashes of the fixed style attributes in the build's own scripts (never user input)."""
    found: set[str] = set()
    for script in sorted((root / IMMUTABLE_PREFIX).rglob("*.js")):
        found.update(_sha256_source(m) for m in _STYLE_ATTRIBUTE.findall(script.read_bytes()))
    return tuple(sorted(found))


def content_security_policy(
    script_hashes: tuple[str, ...], storage_url: str, style_hashes: tuple[str, ...] = ()
) -> str:
    """Scripts only from this origin (plus the hashed bootstrap); media and uploads only storage."""
    storage = "{0.scheme}://{0.netloc}".format(urlsplit(storage_url))
    scripts = " ".join(("'self'", *script_hashes))
    # Style attributes only as the build wrote them; the app styles elements through the CSSOM.
    attributes = " ".join(("'unsafe-hashes'", *style_hashes)) if style_hashes else "'none'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            "style-src 'self'",
            f"style-src-attr {attributes}",
            f"img-src 'self' {storage}",
            f"media-src {storage}",
            # The API on this origin; presigned PUTs of uploads straight to storage.
            f"connect-src 'self' {storage}",
            "font-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(csp: str) -> dict[str, str]:
    """Headers of the app's HTML page."""
    return {
        "Content-Security-Policy": csp,
        # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
        # same-origin POSTs, which the API's CSRF check (issue 11) would refuse.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


@dataclass
class Site:
    """The build directory, read on demand and kept in memory (a few hundred KB)."""

    root: Path
    storage_url: str
    _cache: dict[str, StaticFile | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _built_at: int = field(default=0, repr=False)
    _csp: tuple[str, str] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, root: Path, storage_url: str) -> Site:
        """A site over a build; BuildMissing when web/build has no index.html."""
        resolved = root.resolve()
        if not (resolved / INDEX).is_file():
            raise BuildMissing(f"{resolved / INDEX} is missing: build the web app (make dev)")
        site = cls(resolved, storage_url)
        site.index()  # read at start: a bad build fails the process, not the first visitor
        return site

    def index(self) -> StaticFile:
        """index.html: the page of every client-side route."""
        try:
            built_at = (self.root / INDEX).stat().st_mtime_ns
        except OSError:
            built_at = -1
        with self._lock:
            if built_at != self._built_at:
                # A rebuild (`npm run watch` beside `make dev`): forget the files of the old one.
                self._cache.clear()
                self._built_at = built_at
        found = self.file(INDEX)
        if found is None:
            raise BuildMissing(f"{self.root / INDEX} disappeared")
        return found

    def csp_for(self, index: StaticFile) -> str:
        """The Content-Security-Policy of a build's page (computed once per build)."""
        with self._lock:
            cached = self._csp
        if cached is not None and cached[0] == index.etag:
            return cached[1]
        csp = content_security_policy(
            inline_script_hashes(index.body), self.storage_url, static_style_hashes(self.root)
        )
        with self._lock:
            self._csp = (index.etag, csp)
        return csp

    def file(self, relative: str) -> StaticFile | None:
        """The file at a URL path relative to the root; None when there is none."""
        with self._lock:
            if relative in self._cache:
                return self._cache[relative]
        loaded = self._read(relative)
        with self._lock:
            self._cache[relative] = loaded
        return loaded

    def _read(self, relative: str) -> StaticFile | None:
        parts = PurePosixPath(relative).parts
        # Only plain names below the root: no "..", no hidden files, no absolute paths.
        if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        path = self.root.joinpath(*parts)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_file() or not resolved.is_relative_to(self.root):
            return None
        body = resolved.read_bytes()
        content_type = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
            "application/javascript",
            "text/javascript",
            "image/svg+xml",
            "application/json",
        ):
            content_type += "; charset=utf-8"
        gzipped = None
        if resolved.suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP_BYTES:
            smaller = gzip.compress(body, compresslevel=9, mtime=0)
            gzipped = smaller if len(smaller) < len(body) else None
        cache = IMMUTABLE if relative.startswith(IMMUTABLE_PREFIX) else REVALIDATE
        return StaticFile(body, content_type, _etag(body), cache, gzipped)


def is_asset_path(relative: str) -> bool:
    """Paths that name a file (an extension, or under _app/): never answered with the page."""
    path = PurePosixPath(relative)
    hidden = any(part.startswith(".") for part in path.parts)
    return relative.startswith("_app/") or hidden or bool(path.suffix)
