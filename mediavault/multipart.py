"""Completing a multipart upload whose parts carry SHA-256 checksums.

minio-py's CompleteMultipartUpload names parts by ETag only, and its ListParts drops checksums;
S3 (and MinIO) refuse to complete a checksummed upload without each part's checksum. The
checksums are taken from storage's own list of the parts it received and verified, never from
the client, and sent back with the client's part numbers and ETags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree import ElementTree

if TYPE_CHECKING:
    from minio import Minio

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_PAGE = 1000


def part_checksums(client: Minio, bucket: str, key: str, upload_id: str) -> dict[int, str]:
    """Part number → base64 SHA-256 of every part storage holds for the upload."""
    checksums: dict[int, str] = {}
    marker = "0"
    while True:
        response = client._execute(
            "GET",
            bucket,
            key,
            query_params={
                "uploadId": upload_id,
                "max-parts": str(_PAGE),
                "part-number-marker": marker,
            },
        )
        # Storage's own answer to our own request, not a user's document.
        root = ElementTree.fromstring(response.data)  # noqa: S314
        for part in root.iter(f"{_NS}Part"):
            number = part.findtext(f"{_NS}PartNumber")
            checksum = part.findtext(f"{_NS}ChecksumSHA256")
            if number is not None and checksum:
                checksums[int(number)] = checksum
        if root.findtext(f"{_NS}IsTruncated") != "true":
            return checksums
        marker = root.findtext(f"{_NS}NextPartNumberMarker") or ""
        if not marker:
            return checksums


def complete_with_checksums(
    client: Minio, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
) -> None:
    """CompleteMultipartUpload naming each part's ETag and the checksum storage verified."""
    from minio.helpers import md5sum_hash

    checksums = part_checksums(client, bucket, key, upload_id)
    root = ElementTree.Element("CompleteMultipartUpload")
    for number, etag in parts:
        part = ElementTree.SubElement(root, "Part")
        ElementTree.SubElement(part, "PartNumber").text = str(number)
        ElementTree.SubElement(part, "ETag").text = '"' + etag.strip('"') + '"'
        if number in checksums:
            # A part storage does not hold is left without one: storage answers InvalidPart.
            ElementTree.SubElement(part, "ChecksumSHA256").text = checksums[number]
    body = ElementTree.tostring(root)
    client._execute(
        "POST",
        bucket,
        key,
        body=body,
        headers={"Content-Type": "application/xml", "Content-MD5": str(md5sum_hash(body))},
        query_params={"uploadId": upload_id},
    )
