"""The SigV4 presigner: minio-py's URLs exactly, one signing key a day, reusable download URLs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from minio import Minio

from mediavault.sigv4 import Credentials, Signer

CREDENTIALS = Credentials("mediavault-functions", "a-secret/with+odd=chars", "eu-west-3")
ORIGIN = "http://localhost:19000"
BUCKET = "mediavault"
KEYS = (
    "derived/4b1d1c6e-4b5c-4b11-9d7e-2f1c3a0e9b21/5f0c/thumb.webp",
    "originals/4b1d1c6e-4b5c-4b11-9d7e-2f1c3a0e9b21/Été à Paris (1).mp4",
    "a/b c/+plus~tilde_under.score-dash",
)
MOMENTS = (
    datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2027, 7, 4, 12, 30, 7, tzinfo=UTC),
)


def _minio_url(key: str, moment: datetime, expires: int, query: dict[str, str]) -> str:
    """minio-py's presigned GET for the public host: the reference."""
    reference = Minio(
        urlsplit(ORIGIN).netloc,
        access_key=CREDENTIALS.access_key,
        secret_key=CREDENTIALS.secret_key,
        secure=False,
        region=CREDENTIALS.region,  # no region lookup: signing stays offline
    )
    headers: dict[str, str | list[str] | tuple[str]] = dict(query)
    return reference.get_presigned_url(
        "GET", BUCKET, key, expires=timedelta(seconds=expires), response_headers=headers,
        request_date=moment,
    )  # fmt: skip


def _path(key: str) -> str:
    return f"/{BUCKET}/{quote(key, safe='/-_.~')}"


def _same_url(ours: str, reference: str) -> None:
    """Same origin, path and query parameters (the order of a query is not signed)."""
    mine, theirs = urlsplit(ours), urlsplit(reference)
    assert (mine.scheme, mine.netloc, mine.path) == (theirs.scheme, theirs.netloc, theirs.path)
    assert parse_qs(mine.query, strict_parsing=True) == parse_qs(theirs.query, strict_parsing=True)


def _clock(moments: list[datetime]) -> Callable[[], datetime]:
    """A clock that reads the next moment of the list each time."""
    remaining = iter(moments)
    return lambda: next(remaining)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("moment", MOMENTS)
def test_get_urls_are_minio_pys_for_any_key_date_and_response_override(
    key: str, moment: datetime
) -> None:
    signer = Signer(CREDENTIALS)
    for query in (
        {"response-content-type": "image/webp"},
        {"response-content-type": "video/mp4",
         "response-content-disposition": "attachment; filename=\"x y.mp4\"; filename*=UTF-8''x"},
    ):  # fmt: skip
        ours = signer.presign("GET", ORIGIN, _path(key), expires_seconds=900, query=query,
                              now=moment)  # fmt: skip
        _same_url(ours, _minio_url(key, moment, 900, query))


def test_the_signing_key_is_made_once_a_day_and_a_new_day_gets_a_new_one() -> None:
    evening = datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC)
    morning = evening + timedelta(seconds=2)
    signer = Signer(CREDENTIALS, clock=_clock([evening, evening, morning]))
    query = {"response-content-type": "image/jpeg"}
    urls = [signer.presign("GET", ORIGIN, _path(KEYS[0]), expires_seconds=60, query=query)
            for _ in range(3)]  # fmt: skip
    # Each URL is right for its own day: the key of 1 May is not used on 2 May.
    for url, moment in zip(urls, (evening, evening, morning), strict=True):
        _same_url(url, _minio_url(KEYS[0], moment, 60, query))
    assert signer.signing_key("20260501") is signer.signing_key("20260501")
    assert signer.signing_key("20260502") != signer.signing_key("20260501")


def test_a_reusable_url_is_the_same_all_through_its_window_and_valid_long_enough() -> None:
    start = datetime(2026, 5, 1, 10, 5, 0, tzinfo=UTC)  # a multiple of 300 s since the epoch
    moments = [start, start + timedelta(seconds=1), start + timedelta(seconds=299.999),
               start + timedelta(seconds=300)]  # fmt: skip
    signer = Signer(CREDENTIALS, clock=_clock(moments))
    query = {"response-content-type": "image/webp"}
    urls = [signer.presign_reusable("GET", ORIGIN, _path(KEYS[0]), valid_seconds=900,
                                    reuse_seconds=300, query=query) for _ in moments]  # fmt: skip
    assert urls[0] == urls[1] == urls[2]
    assert urls[3] != urls[2]
    for url, moment in zip(urls, moments, strict=True):
        params = parse_qs(urlsplit(url).query)
        dated = datetime.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        ends = dated + timedelta(seconds=int(params["X-Amz-Expires"][0]))
        assert dated <= moment  # never dated ahead: storage refuses requests from the future
        assert timedelta(seconds=900) <= ends - moment <= timedelta(seconds=1200)
        _same_url(url, _minio_url(KEYS[0], dated, 1200, query))


def test_without_reuse_a_url_is_dated_now_and_valid_for_exactly_its_time() -> None:
    moment = datetime(2026, 5, 1, 10, 7, 13, tzinfo=UTC)
    signer = Signer(CREDENTIALS, clock=lambda: moment)
    url = signer.presign_reusable("GET", ORIGIN, _path(KEYS[0]), valid_seconds=900,
                                  reuse_seconds=0)  # fmt: skip
    params = parse_qs(urlsplit(url).query)
    assert (params["X-Amz-Date"], params["X-Amz-Expires"]) == (["20260501T100713Z"], ["900"])
    _same_url(url, _minio_url(KEYS[0], moment, 900, {}))


def test_signed_headers_are_lower_cased_sorted_and_listed() -> None:
    url = Signer(CREDENTIALS).presign(
        "PUT", ORIGIN, _path(KEYS[1]), expires_seconds=3600,
        signed_headers={"Content-Type": "video/mp4", "Content-Length": "10"}, now=MOMENTS[0],
    )  # fmt: skip
    params = parse_qs(urlsplit(url).query)
    assert params["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert len(params["X-Amz-Signature"][0]) == 64


def test_urls_stay_right_when_more_download_names_come_than_the_shared_parts_kept() -> None:
    signer = Signer(CREDENTIALS)
    moment = MOMENTS[1]
    for number in range(600):  # twice what is kept: it is emptied and filled again
        name = f'attachment; filename="clip {number}.mp4"'
        query = {"response-content-type": "video/mp4", "response-content-disposition": name}
        url = signer.presign("GET", ORIGIN, _path(KEYS[1]), expires_seconds=900, query=query,
                             now=moment)  # fmt: skip
        if number % 150 == 0:
            _same_url(url, _minio_url(KEYS[1], moment, 900, query))
    thumbnail = {"response-content-type": "image/webp"}
    url = signer.presign("GET", ORIGIN, _path(KEYS[0]), expires_seconds=900, query=thumbnail,
                         now=moment)  # fmt: skip
    _same_url(url, _minio_url(KEYS[0], moment, 900, thumbnail))
