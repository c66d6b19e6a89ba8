"""Every request and response body of the API, declared once.

Requests are msgspec Structs: decoding checks types and bounds and refuses unknown fields, and
the domain rules (allowed types, quotas, the text rules of mediavault.text) stay in the core.
Responses are TypedDicts: mypy holds the handlers to them, the tests hold the functions to the
OpenAPI document, and scripts/render_openapi.py derives that document's schemas from this module
(`components.schemas` in openapi/openapi.yaml: never edit them there).

Only request handlers import this module at run time (for decoding); response types are used
in annotations only, so a cold start that answers GETs never pays for msgspec.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal, NotRequired, TypedDict, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from mediavault.errors import BadRequest

MAX_PARTS = 10_000  # S3's limit on the parts of one upload
MAX_TAGS = 50
MAX_EXPIRY_SECONDS = 10 * 365 * 24 * 3600
# The largest size any upload may announce: PostgreSQL's bigint (the configured limit is lower).
MAX_SIZE_BYTES = 2**63 - 1
# The most ids a collection order may list: 20,000 UUIDs are about 800 kB of JSON, within the
# default MAX_JSON_BYTES (1 MiB) that bounds every body anyway.
MAX_ORDER_ITEMS = 20_000

Id = Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
# RFC 3339, what OpenAPI's date-time means (the JSON encoder writes datetimes so).
Timestamp = Annotated[datetime, Meta(extra_json_schema={"format": "date-time"})]
Url = str


class Kind(enum.StrEnum):
    """What a media is, from its announced type (the worker checks the bytes)."""

    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    OTHER = "other"


class Status(enum.StrEnum):
    """Where a media is in its life: announced, being processed, served, or refused."""

    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Request(msgspec.Struct, forbid_unknown_fields=True):
    """Base of request bodies: an unknown field is an error that names it."""

    # Finer error codes for some fields, kept from before the bodies were declared.
    error_codes: ClassVar[dict[str, str]] = {}


R = TypeVar("R", bound=Request)
_UNKNOWN_FIELD = re.compile(r"unknown field `")
_FIELD = re.compile(r"at `\$\.(\w+)")
MAX_MESSAGE = 200


def decode(raw: bytes, shape: type[R]) -> R:
    """A JSON body as its declaration; BadRequest naming the field that is wrong."""
    if not raw.strip():
        raise BadRequest("request body must be a JSON object")
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as error:
        message = str(error)
        if len(message) > MAX_MESSAGE:  # an unknown field's name is the sender's text
            message = message[: MAX_MESSAGE - 1] + "…"
        if _UNKNOWN_FIELD.search(message):
            raise BadRequest(message, code="unknown_field") from None
        field = _FIELD.search(message)
        code = shape.error_codes.get(field.group(1)) if field else None
        raise BadRequest(message, code=code) from None
    except (msgspec.DecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None


# ---------------------------------------------------------------- requests


class ApiTokenRequest(Request):
    """`POST /api/auth/tokens`."""

    name: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"\S")]


class UploadRequest(Request):
    """`POST /api/uploads`: what is about to be uploaded."""

    error_codes: ClassVar[dict[str, str]] = {"filename": "invalid_filename"}

    filename: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=255,
            description="kept in the database only; no path, no control characters",
        ),
    ]
    content_type: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=255,
            description="allowed by ALLOWED_CONTENT_TYPES (image/*, video/*, audio/* by default)",
        ),
    ]
    size_bytes: Annotated[int, Meta(ge=1, le=MAX_SIZE_BYTES)]
    title: Annotated[str, Meta(max_length=200)] | None = None
    sha256: (
        Annotated[
            str,
            Meta(
                max_length=64,
                description="the whole file's SHA-256 (hex): storage refuses other bytes, and an"
                " upload of a file the user already has answers `duplicate_of` instead",
            ),
        ]
        | None
    ) = None
    keep_duplicate: Annotated[
        bool, Meta(description="upload even when the user already has these bytes")
    ] = False


class CompletedPart(Request):
    """One part of a multipart upload, as its PUT answered."""

    part_number: Annotated[int, Meta(ge=1, le=MAX_PARTS)]
    etag: Annotated[str, Meta(min_length=1, max_length=200)]


class UploadCompletion(Request):
    """`POST /api/uploads/{id}/complete` of a multipart upload."""

    parts: Annotated[list[CompletedPart], Meta(min_length=1, max_length=MAX_PARTS)]


class UploadUrlsRequest(Request):
    """`POST /api/uploads/{id}/urls`: which parts of a multipart upload to sign anew."""

    parts: Annotated[
        list[Annotated[int, Meta(ge=1, le=MAX_PARTS)]],
        Meta(min_length=1, max_length=MAX_PARTS, description="part numbers, each once"),
    ]


class MediaUpdate(Request):
    """`PATCH /api/media/{id}`: what is absent stays as it is."""

    title: Annotated[str, Meta(max_length=200)] | UnsetType | None = UNSET
    tags: (
        Annotated[
            list[Annotated[str, Meta(min_length=1, max_length=64)]],
            Meta(max_length=MAX_TAGS),
        ]
        | UnsetType
    ) = UNSET


class CollectionFields(Request):
    """`POST /api/collections`."""

    title: Annotated[str, Meta(min_length=1, max_length=200)]
    description: Annotated[str, Meta(max_length=2000)] | None = None


class CollectionUpdate(Request):
    """`PATCH /api/collections/{id}`: what is absent stays as it is."""

    title: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET
    cover_media_id: (
        Annotated[
            uuid.UUID,
            Meta(description="an item of the collection; null: the first ready item (automatic)"),
        ]
        | UnsetType
        | None
    ) = UNSET


class CollectionOrder(Request):
    """`PUT /api/collections/{id}/order`: every item of the collection, once, in the new order."""

    media_ids: Annotated[list[uuid.UUID], Meta(max_length=MAX_ORDER_ITEMS)]


class ShareRequest(Request):
    """`POST /api/collections/{id}/shares`."""

    expires_in_seconds: Annotated[int, Meta(ge=60, le=MAX_EXPIRY_SECONDS)] | None = None
    allow_download: bool = False
    include_location: Annotated[
        bool,
        Meta(description="downloads keep the place they were made in (the owner's choice)"),
    ] = False
    password: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class ShareUnlock(Request):
    """`POST /api/share/{token}/unlock`."""

    password: Annotated[str, Meta(max_length=200)]


# ---------------------------------------------------------------- responses


class ErrorDetail(TypedDict):
    """What went wrong: a machine-readable code and a sentence for people."""

    code: str
    message: str


class Error(TypedDict):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail


class User(TypedDict):
    """A signed-in person."""

    id: Id
    username: str
    discord_id: str | None
    avatar_url: str | None


class ApiToken(TypedDict):
    """A personal API token, without its secret."""

    id: Id
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None


class ApiTokenCreated(TypedDict):
    """A new API token: the only answer that holds its secret."""

    id: Id
    name: str
    token: str
    created_at: Timestamp


class ApiTokenList(TypedDict):
    """The user's API tokens (one page)."""

    items: list[ApiToken]
    next_cursor: str | None


class DuplicateUpload(TypedDict):
    """Nothing to upload: the user already has these bytes, stored (same SHA-256)."""

    duplicate_of: Id


class Upload(TypedDict):
    """A single presigned PUT: send exactly these headers."""

    media_id: Id
    method: Literal["PUT"]
    url: Url
    headers: dict[str, str]
    expires_at: Timestamp


class UploadPart(TypedDict):
    """Where to PUT one part, and its exact size."""

    part_number: Annotated[int, Meta(ge=1, le=MAX_PARTS)]
    size: Annotated[int, Meta(ge=1)]
    url: Url


class MultipartUpload(TypedDict):
    """A multipart upload: PUT each part, then complete with each part's ETag."""

    media_id: Id
    upload_id: str
    part_size: int
    parts: list[UploadPart]
    expires_at: Timestamp
    checksum_algorithm: NotRequired[
        Annotated[
            Literal["SHA256"],
            Meta(description="with a sha256: each part's PUT sends its own x-amz-checksum-sha256"),
        ]
    ]


class MediaUrls(TypedDict):
    """Short-lived download URLs of what exists and was checked (a list page: thumbnails only)."""

    original: Annotated[Url | None, Meta(description="the checked original, as an attachment")]
    playback: Annotated[
        Url | None, Meta(description="what a page shows: the HEVC file, a photo's preview")
    ]
    thumbnail: Annotated[Url | None, Meta(description="WebP, long edge 320 px")]
    preview: Annotated[Url | None, Meta(description="a photo's WebP preview, long edge 1440 px")]
    web: Annotated[Url | None, Meta(description="the H.264 web rendition, where one was made")]
    thumbnail_jpeg: Annotated[Url | None, Meta(description="the thumbnail as JPEG")]
    preview_jpeg: Annotated[Url | None, Meta(description="the preview as JPEG")]


class Location(TypedDict):
    """Where a photo or video was taken (WGS 84 degrees); only ever shown to its owner."""

    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]


class MediaSource(TypedDict):
    """Something a <video>/<audio> can play, with its MIME type and codecs (RFC 6381)."""

    url: Url
    type: Annotated[str, Meta(examples=['video/mp4; codecs="hvc1.1.6.L93.B0, mp4a.40.2"'])]


class Processing(TypedDict):
    """The media's processing job."""

    attempts: Annotated[int, Meta(ge=0)]
    encoder: str | None
    progress: Annotated[float, Meta(ge=0, le=1)]
    started_at: Timestamp | None
    finished_at: Timestamp | None


class Media(TypedDict):
    """One of the user's media."""

    id: Id
    title: str | None
    filename: str
    content_type: str
    kind: Kind
    status: Status
    error: str | None
    size_bytes: int
    sha256: Annotated[
        str | None, Meta(description="the original's SHA-256 (hex), once the worker has read it")
    ]
    width: int | None
    height: int | None
    duration_ms: int | None
    video_codec: str | None
    audio_codec: str | None
    tags: list[str]
    taken_at: Annotated[
        str | None,
        Meta(
            description="when it was taken, in the local time of the capture: RFC 3339 with its"
            " offset, or without one when the camera recorded none"
        ),
    ]
    taken_at_offset: Annotated[
        int | None, Meta(description="minutes east of UTC at the capture, when known")
    ]
    camera_make: str | None
    camera_model: str | None
    location: Location | None
    created_at: Timestamp
    updated_at: Timestamp
    urls: MediaUrls
    sources: Annotated[
        list[MediaSource],
        Meta(
            description="what plays in a page, best first; empty if none, and in a page of"
            " `GET /api/media`"
        ),
    ]
    processing: Processing


class MediaList(TypedDict):
    """A page of media, newest first; its items carry the thumbnails' URLs only."""

    items: list[Media]
    next_cursor: str | None


class TagCount(TypedDict):
    """A tag and how many media carry it."""

    name: str
    count: Annotated[int, Meta(ge=0)]


class TagList(TypedDict):
    """The user's tags."""

    items: list[TagCount]
    next_cursor: None


class CollectionSummary(TypedDict):
    """A collection without its items."""

    id: Id
    title: str
    description: str
    item_count: Annotated[int, Meta(ge=0)]
    cover: Annotated[
        Url | None,
        Meta(
            description="the thumbnail of the chosen cover while it is ready, else of the first"
            " ready item"
        ),
    ]
    cover_media_id: Annotated[
        Id | None, Meta(description="the chosen cover; null: automatic (the first ready item)")
    ]
    created_at: Timestamp
    updated_at: Timestamp


class Collection(CollectionSummary):
    """A collection with its items in order."""

    items: list[Media]


class CollectionList(TypedDict):
    """A page of collections, newest first."""

    items: list[CollectionSummary]
    next_cursor: str | None


class Share(TypedDict):
    """A share link, without its token."""

    id: Id
    expires_at: Timestamp | None
    allow_download: bool
    include_location: bool
    has_password: bool
    revoked: bool
    view_count: Annotated[int, Meta(ge=0)]
    created_at: Timestamp


class ShareCreated(Share):
    """A new share link: the only answer that holds its token."""

    token: str
    url: Url


class ShareList(TypedDict):
    """A collection's share links."""

    items: list[Share]
    next_cursor: None


class SharedCollection(TypedDict):
    """What a share link shows of its collection."""

    title: str
    description: str
    cover: Annotated[
        Url | None, Meta(description="the cover's thumbnail (the owner's choice, else automatic)")
    ]


class SharedItemUrls(TypedDict):
    """The share function's own URLs of a shared item: they sign a storage URL and redirect."""

    thumbnail: Url | None
    playback: Url | None
    original: Annotated[
        Url | None, Meta(description="only when the link allows downloads; placeless unless chosen")
    ]


class SharedItem(TypedDict):
    """A ready media of a shared collection."""

    id: Id
    title: str | None
    kind: Kind
    width: int | None
    height: int | None
    duration_ms: int | None
    urls: SharedItemUrls
    sources: list[MediaSource]


class ShareView(TypedDict):
    """The public view of a shared collection."""

    collection: SharedCollection
    items: list[SharedItem]


REQUESTS: tuple[type[Request], ...] = (
    ApiTokenRequest,
    UploadRequest,
    UploadCompletion,
    UploadUrlsRequest,
    MediaUpdate,
    CollectionFields,
    CollectionUpdate,
    CollectionOrder,
    ShareRequest,
    ShareUnlock,
)
RESPONSES: tuple[type, ...] = (
    Error,
    User,
    ApiTokenCreated,
    ApiTokenList,
    Upload,
    MultipartUpload,
    DuplicateUpload,
    Media,
    MediaList,
    TagList,
    CollectionSummary,
    Collection,
    CollectionList,
    Share,
    ShareCreated,
    ShareList,
    ShareView,
)
