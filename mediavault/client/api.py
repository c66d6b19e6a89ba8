"""The MediaVault API over httpx, with retries of what is transient (network, 429, 502-504)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mediavault import __version__
from mediavault.client.config import ClientConfig
from mediavault.client.errors import ApiError, Interrupted, RequestLost, Unreachable

# Worth another try: rate limits and caps (429), a gateway or dependency briefly away (502-504).
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = f"mediavault-cli/{__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    # Retry-After can be long (60 s for the upload caps); honoured up to this.
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (exponential, or what the server said)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, when it is a number."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        return None


def wait(stop: threading.Event, seconds: float) -> None:
    """Sleep, unless the run is being stopped."""
    if stop.wait(seconds):
        raise Interrupted("stopped")


def _error_of(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return ApiError(response.status_code, "http_error", text)


class Api:
    """The API of one server, as one user (a personal token); safe to share between threads."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        stop: threading.Event | None = None,
        connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.stop = stop or threading.Event()
        self._http = httpx.Client(
            base_url=config.url,
            headers={"Authorization": f"Bearer {config.token}", "User-Agent": USER_AGENT},
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            transport=transport,
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
        resend: bool = True,
    ) -> httpx.Response:
        """One call, retried while transient; ApiError for any other answer than `ok`.

        Without `resend`, a connection lost once the request may have arrived raises RequestLost
        instead of sending it again: the caller finds out what became of it.
        """
        attempt = 0
        while True:
            attempt += 1
            if self.stop.is_set():
                raise Interrupted("stopped")
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as error:
                if not resend and not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                    raise RequestLost(f"{method} {path}: {error!r}") from error
                if attempt >= self.retry.attempts:
                    raise Unreachable(f"{self.config.url} did not answer: {error!r}") from error
                wait(self.stop, self.retry.delay(attempt))
                continue
            if response.status_code in ok:
                return response
            if response.status_code in TRANSIENT_STATUSES and attempt < self.retry.attempts:
                wait(self.stop, self.retry.delay(attempt, retry_after(response)))
                continue
            raise _error_of(response)

    def me(self) -> dict[str, Any]:
        """The signed-in user."""
        return self._json("GET", "/api/auth/me")

    def start_upload(self, body: Mapping[str, object], *, resend: bool = True) -> dict[str, Any]:
        """POST /api/uploads: an upload to send, or `{"duplicate_of": id}`."""
        return self._json("POST", "/api/uploads", json=dict(body), ok=(200, 201), resend=resend)

    def upload_urls(self, media_id: str) -> dict[str, Any]:
        """POST /api/uploads/{id}/urls: the unfinished upload with fresh URLs for every part."""
        return self._json("POST", f"/api/uploads/{media_id}/urls")

    def complete_upload(
        self, media_id: str, parts: list[dict[str, object]] | None = None
    ) -> dict[str, Any]:
        """POST /api/uploads/{id}/complete; the media."""
        body = None if parts is None else {"parts": parts}
        return self._json("POST", f"/api/uploads/{media_id}/complete", json=body)

    def abort_upload(self, media_id: str) -> None:
        """DELETE /api/uploads/{id}; an upload already gone or finished is left as it is."""
        try:
            self.request("DELETE", f"/api/uploads/{media_id}", ok=(204,))
        except ApiError as error:
            if error.status not in (404, 409):
                raise

    def media(self, media_id: str) -> dict[str, Any]:
        """One media."""
        return self._json("GET", f"/api/media/{media_id}")

    def update_media(self, media_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """PATCH /api/media/{id}."""
        return self._json("PATCH", f"/api/media/{media_id}", json=dict(body))

    def list_media(
        self, *, status: str | None = None, tags: tuple[str, ...] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every media matching the filters, newest first, page by page."""
        params: dict[str, Any] = {"limit": 100, "tag": list(tags)}
        if status is not None:
            params["status"] = status
        return self._pages("/api/media", params)

    def collections(self) -> Iterator[dict[str, Any]]:
        """Every collection, newest first."""
        return self._pages("/api/collections", {"limit": 100})

    def collection(self, collection_id: str) -> dict[str, Any]:
        """One collection with its items."""
        return self._json("GET", f"/api/collections/{collection_id}")

    def create_collection(self, title: str) -> dict[str, Any]:
        """A new, empty collection."""
        return self._json("POST", "/api/collections", json={"title": title}, ok=(201,))

    def add_to_collection(self, collection_id: str, media_id: str) -> None:
        """Put a media at the end of a collection (no-op when it is in it)."""
        self.request("PUT", f"/api/collections/{collection_id}/items/{media_id}", ok=(204,))

    def create_share(self, collection_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """A share link for a collection (its URL is shown only now)."""
        return self._json(
            "POST", f"/api/collections/{collection_id}/shares", json=dict(body), ok=(201,)
        )

    def _json(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
        resend: bool = True,
    ) -> dict[str, Any]:
        response = self.request(method, path, json=json, params=params, ok=ok, resend=resend)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(response.status_code, "unexpected", "the answer is not a JSON object")
        return body

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {**params, "cursor": cursor} if cursor else params
            page = self._json("GET", path, params=query)
            items = page.get("items")
            if not isinstance(items, list):
                raise ApiError(200, "unexpected", "the answer holds no list of items")
            yield from items
            cursor = page.get("next_cursor")
            if not cursor:
                return
