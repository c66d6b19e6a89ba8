"""The share function: the public, read-only view of a shared collection (JSON and HTML)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from mediavault import sharepage
from mediavault.errors import HTTPError, NotFound, Unauthorized
from mediavault.tokens import cookie_signer
from mediavault.web import Endpoint, RequestContext, json_response, set_cookie

if TYPE_CHECKING:
    from itsdangerous import TimestampSigner
    from prometheus_client import CollectorRegistry, Counter

SHARE_COOKIE = "mv_share"
UNLOCK_SECONDS = 24 * 3600
_TOKEN = re.compile(r"mvsh_[A-Za-z0-9_\-]{40,60}")


def _signer(ctx: RequestContext) -> TimestampSigner:
    """The signer of the cookie that remembers an unlocked link."""
    return cookie_signer(ctx.settings.auth.session_secret, "share")


class TooManyAttempts(HTTPError):
    """Too many wrong passwords for this link; wait for the window to pass."""

    status = 429
    code = "too_many_attempts"


class ShareMetrics:
    """Views of shared links and failed unlocks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter

        self.views: Counter = Counter(
            "mediavault_share_views", "Views of shared collections, by form.", ("form",),
            registry=registry,
        )  # fmt: skip
        self.unlock_failures: Counter = Counter(
            "mediavault_share_unlock_failures", "Wrong or rate-limited share passwords.",
            ("reason",), registry=registry,
        )  # fmt: skip


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the share function."""
    api = ShareApi(ShareMetrics(registry))
    return [
        Endpoint("/api/share/<token>", ("GET",), api.view_json),
        Endpoint("/api/share/<token>/unlock", ("POST",), api.unlock_json),
        Endpoint("/s/<token>", ("GET",), api.view_page),
        Endpoint("/s/<token>/unlock", ("POST",), api.unlock_page),
    ]


class ShareApi:
    """Handlers of the share function."""

    def __init__(self, metrics: ShareMetrics) -> None:
        self.metrics = metrics

    def _resolve(self, ctx: RequestContext, token: str) -> dict[str, Any]:
        from mediavault import shares

        if not _TOKEN.fullmatch(token):
            raise NotFound("this link does not exist or has expired")
        with ctx.services.pool.connection() as conn:
            return shares.resolve(conn, token)

    def _unlocked(self, ctx: RequestContext, share: dict[str, Any]) -> bool:
        from itsdangerous import BadSignature

        if not share["has_password"]:
            return True
        try:
            value = _signer(ctx).unsign(
                ctx.request.cookies.get(SHARE_COOKIE, ""), max_age=UNLOCK_SECONDS
            )
        except BadSignature:
            return False
        return value.decode() == str(share["id"])

    def _view(self, ctx: RequestContext, share: dict[str, Any], form: str) -> dict[str, Any]:
        from mediavault import shares
        from mediavault.downloads import derived_url, original_url
        from mediavault.renditions import source_key, video_sources

        storage = ctx.services.storage
        expiry = storage.settings.download_expiry_seconds
        with ctx.services.pool.connection() as conn:
            rows = shares.ready_items(conn, str(share["collection_id"]))
            shares.count_view(conn, str(share["id"]))
        self.metrics.views.labels(form).inc()

        items = []
        for row in rows:
            # Playback may use the original (Chromium and Firefox play no HEVC), the download
            # link only when the link allows it; videos whose original names a place always
            # have a web rendition, so that their original is never needed here.
            playable = original_url(storage, row, expiry)
            original = playable if share["allow_download"] else None
            sources = [
                {"url": playable if kind == "original" else
                 derived_url(storage, source_key(row, kind), expiry), "type": mime}
                for kind, mime in video_sources(row, allow_original=True)
            ]  # fmt: skip
            shown = derived_url(
                storage,
                row["preview_key"] if row["kind"] == "image" else
                row["playback_key"] or row["web_key"], expiry,
            )  # fmt: skip
            urls: dict[str, str | None] = {
                "thumbnail": derived_url(storage, row["thumbnail_key"], expiry),
                "playback": shown or playable,
                "original": original,
            }
            items.append({
                "id": str(row["id"]), "title": row["title"], "kind": row["kind"],
                "width": row["width"], "height": row["height"],
                "duration_ms": row["duration_ms"], "urls": urls, "sources": sources,
            })  # fmt: skip
        return {
            "collection": {"title": share["title"], "description": share["description"]},
            "items": items,
        }

    def _check_password(self, ctx: RequestContext, share: dict[str, Any], password: object) -> None:
        from mediavault import shares

        share_id = str(share["id"])
        with ctx.services.pool.connection() as conn:
            if not shares.unlock_allowed(conn, share_id):
                self.metrics.unlock_failures.labels("rate_limited").inc()
                raise TooManyAttempts("too many wrong passwords; try again in a few minutes")
            stored = share["password_hash"] or ""
            if isinstance(password, str) and shares.verify_password(password, stored):
                return
            shares.record_failed_unlock(conn, share_id)  # committed before the error is raised
        self.metrics.unlock_failures.labels("wrong_password").inc()
        raise Unauthorized("wrong password", code="wrong_password")

    def _set_unlocked(
        self, ctx: RequestContext, response: Response, share: dict[str, Any], token: str
    ) -> None:
        value = _signer(ctx).sign(str(share["id"])).decode()
        for path in (f"/s/{token}", f"/api/share/{token}"):  # this link only, page and API
            set_cookie(
                response, ctx.settings, SHARE_COOKIE, value, max_age=UNLOCK_SECONDS, path=path
            )

    def view_json(self, ctx: RequestContext, token: str) -> Response:
        """GET /api/share/{token}."""
        share = self._resolve(ctx, token)
        if not self._unlocked(ctx, share):
            raise Unauthorized("this link needs its password", code="password_required")
        return json_response(
            self._view(ctx, share, "api"),
            headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
        )

    def unlock_json(self, ctx: RequestContext, token: str) -> Response:
        """POST /api/share/{token}/unlock {password}."""
        share = self._resolve(ctx, token)
        if share["has_password"]:
            self._check_password(ctx, share, ctx.json_body().get("password"))
        response = Response(status=204)
        self._set_unlocked(ctx, response, share, token)
        return response

    def view_page(self, ctx: RequestContext, token: str) -> Response:
        """GET /s/{token}: the gallery, or the password form."""
        nonce = sharepage.new_nonce()
        headers = sharepage.headers(ctx.settings.storage.public_url, nonce)
        try:
            share = self._resolve(ctx, token)
        except NotFound:
            return Response(sharepage.not_found(nonce), 404, headers, mimetype="text/html")
        if not self._unlocked(ctx, share):
            page = sharepage.password_form(f"/s/{token}/unlock", nonce)
            return Response(page, 401, headers, mimetype="text/html")
        page = sharepage.gallery(self._view(ctx, share, "page"), nonce)
        return Response(page, 200, headers, mimetype="text/html")

    def unlock_page(self, ctx: RequestContext, token: str) -> Response:
        """POST /s/{token}/unlock (the form): back to the gallery, or the form with the error."""
        nonce = sharepage.new_nonce()
        headers = sharepage.headers(ctx.settings.storage.public_url, nonce)
        try:
            share = self._resolve(ctx, token)
            if share["has_password"]:
                self._check_password(ctx, share, ctx.request.form.get("password"))
        except NotFound:
            return Response(sharepage.not_found(nonce), 404, headers, mimetype="text/html")
        except HTTPError as error:
            page = sharepage.password_form(f"/s/{token}/unlock", nonce, error.message)
            return Response(page, error.status, headers, mimetype="text/html")
        response = Response(status=303, headers={"Location": f"/s/{token}", **headers})
        self._set_unlocked(ctx, response, share, token)
        return response
