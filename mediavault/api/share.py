"""The share function: the public, read-only view of a shared collection (JSON and HTML)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from mediavault import sharepage
from mediavault.errors import HTTPError, NotFound, TooManyRequests, Unauthorized
from mediavault.tokens import cookie_signer
from mediavault.warmup import API
from mediavault.web import Endpoint, RequestContext, json_response, set_cookie

if TYPE_CHECKING:
    from itsdangerous import TimestampSigner
    from prometheus_client import CollectorRegistry, Counter

    from mediavault.schemas import MediaSource, SharedItem, SharedItemUrls, ShareView

SHARE_COOKIE = "mv_share"
_PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
UNLOCK_SECONDS = 24 * 3600
_TOKEN = re.compile(r"mvsh_[A-Za-z0-9_\-]{40,60}")


def _client_key(ctx: RequestContext, share_id: str) -> str:
    """Who is guessing: their network, hashed with the link (no address is stored)."""
    from mediavault.ratelimits import client_address
    from mediavault.share_unlocks import client_key

    return client_key(share_id, client_address(ctx.request))


def _signer(ctx: RequestContext) -> TimestampSigner:
    """The signer of the cookie that remembers an unlocked link."""
    return cookie_signer(ctx.settings.auth.session_secret, "share")


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


# What its handlers import lazily: imported once, in one thread (mediavault.warmup).
WARMUP = (*API, "mediavault.collections", "mediavault.shares", "itsdangerous")


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the share function."""
    api = ShareApi(ShareMetrics(registry))
    return [
        Endpoint("/api/share/<token>", ("GET",), api.view_json),
        Endpoint("/api/share/<token>/unlock", ("POST",), api.unlock_json),
        Endpoint("/s/<token>", ("GET",), api.view_page),
        Endpoint("/s/<token>/unlock", ("POST",), api.unlock_page),
        Endpoint(
            "/s/<token>/m/<uuid:media_id>/<any(thumbnail,preview,playback,web,original,download):kind>",
            ("GET",),
            api.media,
        ),
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

    def _view(self, ctx: RequestContext, share: dict[str, Any], token: str, form: str) -> ShareView:
        """The view of a link: every URL is one of the share function's own.

        They sign a storage URL only when followed, after checking the link again: nothing in
        the view names an owner or an object key, and a revoked link stops them at once.
        """
        from mediavault import collections, shares
        from mediavault.renditions import video_sources

        with ctx.services.pool.connection() as conn:
            rows = shares.ready_items(conn, str(share["collection_id"]))
            cover = collections.shown_cover(conn, str(share["collection_id"]))
            shares.count_view(conn, str(share["id"]))
        self.metrics.views.labels(form).inc()
        # The page links relative to itself; the JSON view gives absolute URLs.
        base = "" if form == "page" else ctx.settings.api_base_url
        items: list[SharedItem] = []
        for row in rows:

            def url(kind: str, row: dict[str, Any] = row) -> str:
                return f"{base}/s/{token}/m/{row['id']}/{kind}"

            # The original (as the link hands it out: without its place unless the owner chose
            # otherwise) only when the link allows downloads, for playback as for download.
            original = shares.original_key(share, row) is not None
            shown: str | None = "original" if original else None
            if row["kind"] == "image" and row["preview_key"]:
                shown = "preview"
            elif row["kind"] != "image" and (row["playback_key"] or row["web_key"]):
                shown = "playback" if row["playback_key"] else "web"
            sources: list[MediaSource] = [
                {"url": url(kind), "type": mime}
                for kind, mime in video_sources(row, allow_original=original)
            ]
            urls: SharedItemUrls = {
                "thumbnail": url("thumbnail") if row["thumbnail_key"] else None,
                "playback": url(shown) if shown else None,
                "original": url("download") if original else None,
            }
            items.append({
                "id": str(row["id"]), "title": row["title"], "kind": row["kind"],
                "width": row["width"], "height": row["height"],
                "duration_ms": row["duration_ms"], "urls": urls, "sources": sources,
            })  # fmt: skip
        return {
            "collection": {
                "title": share["title"],
                "description": share["description"],
                "cover": f"{base}/s/{token}/m/{cover}/thumbnail" if cover else None,
            },
            "items": items,
        }

    def media(self, ctx: RequestContext, token: str, media_id: object, kind: str) -> Response:
        """GET /s/{token}/m/{id}/{kind}: a fresh storage URL, if the link still allows it."""
        from mediavault import shares
        from mediavault.downloads import derived_url, original_url

        share = self._resolve(ctx, token)
        if not self._unlocked(ctx, share):
            raise Unauthorized("this link needs its password", code="password_required")
        with ctx.services.pool.connection() as conn:
            row = shares.shared_item(conn, str(share["collection_id"]), str(media_id))
        storage = ctx.services.storage
        expiry = storage.settings.download_expiry_seconds
        column = {
            "thumbnail": "thumbnail_key",
            "preview": "preview_key",
            "playback": "playback_key",
            "web": "web_key",
        }
        if kind in column:
            target = derived_url(storage, row[column[kind]], expiry)
        else:  # original (inline) or download: the same file, under the same conditions
            key = shares.require_original_key(share, row)
            target = original_url(storage, row, expiry, attachment=kind == "download", key=key)
        if target is None:
            raise NotFound(f"this media has no {kind}")
        return Response(status=302, headers={"Location": target, **_PRIVATE})

    def _check_password(self, ctx: RequestContext, share: dict[str, Any], password: object) -> None:
        from mediavault import share_unlocks, shares

        share_id = str(share["id"])
        client = _client_key(ctx, share_id)
        with ctx.services.pool.connection() as conn:  # committed before the slow check starts
            attempt = share_unlocks.reserve(conn, share_id, client)
        if not attempt.allowed:
            self.metrics.unlock_failures.labels("rate_limited").inc()
            raise TooManyRequests(
                "too many wrong passwords from here; try again later",
                retry_after=attempt.retry_after_seconds,
                code="too_many_attempts",
            )
        stored = share["password_hash"] or ""
        if isinstance(password, str) and shares.verify_password(password, stored):
            with ctx.services.pool.connection() as conn:
                share_unlocks.give_back(conn, share_id, client)
                if shares.needs_rehash(stored):
                    shares.rehash(conn, share_id, password)
            return
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
        return json_response(self._view(ctx, share, token, "api"), headers=_PRIVATE)

    def unlock_json(self, ctx: RequestContext, token: str) -> Response:
        """POST /api/share/{token}/unlock {password}."""
        from mediavault.schemas import ShareUnlock

        share = self._resolve(ctx, token)
        if share["has_password"]:
            self._check_password(ctx, share, ctx.body(ShareUnlock).password)
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
        page = sharepage.gallery(self._view(ctx, share, token, "page"), nonce)
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
            return Response(page, error.status, {**headers, **error.headers}, mimetype="text/html")
        response = Response(status=303, headers={"Location": f"/s/{token}", **headers})
        self._set_unlocked(ctx, response, share, token)
        return response
