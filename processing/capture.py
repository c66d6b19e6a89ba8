"""When, with what and where a photo or video was taken: read once, from EXIF or container tags.

Everything here reads hostile metadata: values are bounded, ranged and typed, and anything odd is
dropped rather than raised, since a missing date must never fail a job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_MAX_TEXT = 100
# EXIF tags (CIPA DC-008): IFD0, its Exif sub-IFD and its GPS sub-IFD.
_MAKE, _MODEL = 0x010F, 0x0110
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATE_ORIGINAL, _DATE_DIGITIZED = 0x9003, 0x9004
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9011, 0x9012
_SUBSEC_ORIGINAL = 0x9291
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_ISO6709 = re.compile(r"([+-]\d{1,3}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")
# Phones' own container tags first: they carry the local offset, creation_time is UTC only.
_VIDEO_DATE_TAGS = ("com.apple.quicktime.creationdate", "creation_time", "date")
_VIDEO_MAKE_TAGS = ("com.apple.quicktime.make", "com.android.manufacturer", "make")
_VIDEO_MODEL_TAGS = ("com.apple.quicktime.model", "com.android.model", "model")
_VIDEO_PLACE_TAGS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")


@dataclass(frozen=True)
class Capture:
    """Capture facts of one media; None wherever the file does not say (or says nonsense)."""

    taken_at: datetime | None = None  # aware; a time with no known offset is kept as UTC
    offset_minutes: int | None = None  # the local offset at capture, when the file names it
    camera_make: str | None = None
    camera_model: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (the photo child prints it; `from_json` reads it back)."""
        return {
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "offset_minutes": self.offset_minutes,
            "camera_make": self.camera_make,
            "camera_model": self.camera_model,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Capture:
        """Read `to_json`'s form back, checking every value again (it crossed a process)."""
        taken = data.get("taken_at")
        taken_at = _parse_iso(taken) if isinstance(taken, str) else None
        offset = data.get("offset_minutes")
        return cls(
            taken_at=taken_at,
            offset_minutes=offset if _valid_offset(offset) and taken_at else None,
            camera_make=_text(data.get("camera_make")),
            camera_model=_text(data.get("camera_model")),
            **_position(data.get("latitude"), data.get("longitude")),
        )

    def columns(self) -> dict[str, Any]:
        """The media columns these facts are stored in."""
        return {
            "taken_at": self.taken_at,
            "taken_at_offset": self.offset_minutes,
            "camera_make": self.camera_make,
            "camera_model": self.camera_model,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


def from_exif(exif: Any) -> Capture:
    """Capture facts from a Pillow `Image.Exif` (IFD0 with its Exif and GPS sub-IFDs)."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # hostile metadata: dropped, never fatal
        sub, gps = {}, {}
    taken_at, offset = None, None
    for date_tag, offset_tag in ((_DATE_ORIGINAL, _OFFSET_ORIGINAL),
                                 (_DATE_DIGITIZED, _OFFSET_DIGITIZED)):  # fmt: skip
        taken_at, offset = _exif_time(sub.get(date_tag), sub.get(offset_tag))
        if taken_at is not None:
            if date_tag == _DATE_ORIGINAL:
                taken_at += _subseconds(sub.get(_SUBSEC_ORIGINAL))
            break
    return Capture(
        taken_at=taken_at,
        offset_minutes=offset,
        camera_make=_text(exif.get(_MAKE)),
        camera_model=_text(exif.get(_MODEL)),
        **_gps(gps),
    )


def from_video_tags(tags: dict[str, Any]) -> Capture:
    """Capture facts from a container's format tags (ffprobe's `format.tags`)."""
    lowered = {str(key).lower(): value for key, value in tags.items()}
    taken_at, offset = None, None
    for name in _VIDEO_DATE_TAGS:
        value = lowered.get(name.lower())
        if isinstance(value, str):
            taken_at, offset = _video_time(value)
            if taken_at is not None:
                break
    place: dict[str, float | None] = {"latitude": None, "longitude": None}
    for name in _VIDEO_PLACE_TAGS:
        value = lowered.get(name.lower())
        found = _ISO6709.match(value.strip()) if isinstance(value, str) else None
        if found:
            place = _position(float(found.group(1)), float(found.group(2)))
            break
    return Capture(
        taken_at=taken_at,
        offset_minutes=offset,
        camera_make=_first_text(lowered, _VIDEO_MAKE_TAGS),
        camera_model=_first_text(lowered, _VIDEO_MODEL_TAGS),
        **place,
    )


def _first_text(tags: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((t for t in (_text(tags.get(n.lower())) for n in names) if t), None)


def _exif_time(raw: object, raw_offset: object) -> tuple[datetime | None, int | None]:
    """EXIF "YYYY:MM:DD HH:MM:SS" with its OffsetTime* ("+02:00"), if it names a real time."""
    text = _text(raw)
    found = _EXIF_DATE.match(text) if text else None
    if not found:
        return None, None
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None, None  # "0000:00:00 00:00:00" and other placeholders
    offset = _offset_minutes(_text(raw_offset))
    return _aware(local, offset), offset


def _video_time(text: str) -> tuple[datetime | None, int | None]:
    """An ISO 8601 time from a container; only a stated offset counts as a local offset."""
    moment = _parse_iso(text.strip())
    if moment is None:
        return None, None
    if moment.year < 1971:  # 1904/1970 epochs: an unset QuickTime time, not a date
        return None, None
    stated = moment.utcoffset()
    offset = int(stated.total_seconds() // 60) if stated is not None else None
    return moment.astimezone(UTC) if stated is not None else moment.replace(tzinfo=UTC), offset


def _parse_iso(text: str) -> datetime | None:
    cleaned = text[:40]
    # Python before 3.11 and some muxers write "+0200"; fromisoformat wants "+02:00".
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        return None
    if not 1800 <= moment.year <= 9999:
        return None
    return moment


def _aware(local: datetime, offset: int | None) -> datetime:
    if offset is None:
        return local.replace(tzinfo=UTC)
    return local.replace(tzinfo=timezone(timedelta(minutes=offset))).astimezone(UTC)


def _offset_minutes(text: str | None) -> int | None:
    found = _OFFSET.fullmatch(text.strip()) if text else None
    if not found:
        return None
    sign, hours, minutes = found.groups()
    total = int(hours) * 60 + int(minutes)
    value = -total if sign == "-" else total
    return value if _valid_offset(value) else None


def _valid_offset(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -14 * 60 <= value <= 14 * 60


def _subseconds(raw: object) -> timedelta:
    text = _text(raw)
    digits = text.strip()[:6] if text else ""
    if not digits.isdigit():
        return timedelta()
    return timedelta(microseconds=int(digits.ljust(6, "0")))


def _gps(gps: Any) -> dict[str, float | None]:
    try:
        latitude = _degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S")
        longitude = _degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W")
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return {"latitude": None, "longitude": None}
    return _position(latitude, longitude)


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple | list) or len(value) != 3:
        return None
    degrees, minutes, seconds = (float(part) for part in value)
    total = degrees + minutes / 60 + seconds / 3600
    return -total if _text(ref) == negative else total


def _position(latitude: object, longitude: object) -> dict[str, float | None]:
    """A latitude/longitude pair only when both are real numbers within range."""
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)
    ):
        return {"latitude": None, "longitude": None}
    lat, lon = float(latitude), float(longitude)  # type: ignore[arg-type]
    if math.isnan(lat) or math.isnan(lon) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return {"latitude": None, "longitude": None}
    return {"latitude": round(lat, 7), "longitude": round(lon, 7)}


def _text(raw: object) -> str | None:
    """Printable text of a tag (bytes or str), trimmed of NULs and blanks, at most 100 chars."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    cleaned = "".join(ch for ch in raw.replace("\x00", " ") if ch.isprintable()).strip()
    return " ".join(cleaned.split())[:_MAX_TEXT] or None
