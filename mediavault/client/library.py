"""Collections by name, filling them, and waiting for uploads to be processed."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from mediavault.client.api import Api, wait
from mediavault.client.errors import ApiError, ClientError
from mediavault.client.progress import Display
from mediavault.client.upload import Outcome, Result

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UNFINISHED = ("pending", "processing")


def find_collection(api: Api, name: str, *, create: bool = False) -> dict[str, Any]:
    """The user's collection with this id or title; made when missing and `create` is set."""
    matches = [c for c in api.collections() if name in (c["id"], c["title"])]
    if len(matches) > 1:
        raise ClientError(f"{len(matches)} collections are called {name!r}; name one by its id")
    if matches:
        return matches[0]
    if not create:
        raise ClientError(f"no collection called {name!r} (see `mediavault collections`)")
    return api.create_collection(name)


def fill_collection(api: Api, collection_id: str, media_ids: Iterable[str]) -> int:
    """Put the media in the collection in this order (those already in it stay where they are)."""
    added = 0
    for media_id in dict.fromkeys(media_ids):
        api.add_to_collection(collection_id, media_id)
        added += 1
    return added


def wait_processed(
    api: Api,
    results: list[Result],
    display: Display,
    stop: threading.Event,
    poll_seconds: float = 2.0,
) -> list[Result]:
    """Wait until every upload is ready or failed; a failed one becomes a refusal, with why.

    Duplicates of files still being processed (sent by an earlier run) are waited for too.
    """
    unfinished = _unfinished(api)
    waiting: dict[str, list[int]] = {}
    for index, result in enumerate(results):
        if result.media_id and (
            result.outcome is Outcome.UPLOADED
            or (result.outcome is Outcome.DUPLICATE and result.media_id in unfinished)
        ):
            waiting.setdefault(result.media_id, []).append(index)
    results = list(results)
    if waiting:
        display.note(f"waiting for {len(waiting)} uploads to be processed")
    while waiting:
        for media_id in [m for m in waiting if m not in unfinished]:
            try:
                media = api.media(media_id)
            except ApiError as error:
                if error.status != 404:
                    raise
                media = {"status": "failed", "error": "deleted while it was processed"}
            if media["status"] in UNFINISHED:
                continue
            for index in waiting.pop(media_id):
                name = results[index].file.name
                if media["status"] == "failed":
                    why = f"processing refused it: {media['error']}"
                    results[index] = replace(results[index], outcome=Outcome.REFUSED, detail=why)
                    display.note(f"refused    {name}: {why}")
                else:
                    display.note(f"ready      {name}")
        if waiting:
            wait(stop, poll_seconds)
            unfinished = _unfinished(api)
    return results


def _unfinished(api: Api) -> set[str]:
    """The ids of the user's media still pending or processing."""
    return {str(m["id"]) for status in UNFINISHED for m in api.list_media(status=status)}
