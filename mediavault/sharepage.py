"""The public share page: a small server-rendered gallery, no scripts and no external assets."""

from __future__ import annotations

import secrets
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mediavault.schemas import SharedItem, ShareView

_STYLE = " ".join(
    [
        "*{box-sizing:border-box}",
        "body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#111;color:#eee}",
        "header{padding:1.25rem 1rem}h1{margin:0 0 .25rem;font-size:1.4rem}p{margin:0;color:#bbb}",
        "header{display:flex;gap:1rem;align-items:center}",
        ".cover{width:5rem;height:5rem;object-fit:cover;border-radius:8px;flex:none}",
        "main{display:grid;gap:.75rem;padding:0 1rem 2rem;",
        "grid-template-columns:repeat(auto-fill,minmax(240px,1fr))}",
        "figure{margin:0;background:#1c1c1c;border-radius:8px;overflow:hidden}",
        "figure img,figure video{display:block;width:100%;height:auto;background:#000}",
        "figcaption{padding:.5rem .75rem;font-size:.9rem;display:flex;",
        "justify-content:space-between;gap:.5rem}",
        "a{color:#8cf}form{padding:1rem;max-width:22rem}",
        "input,button{font:inherit;padding:.5rem;margin:.25rem 0;width:100%}.error{color:#f88}",
    ]
)


def headers(public_s3_url: str, nonce: str) -> dict[str, str]:
    """Security headers of every share page: media only from storage, nothing else at all."""
    storage = "{0.scheme}://{0.netloc}".format(urlsplit(public_s3_url))
    # Media URLs are the share function's own (same origin), redirecting to storage.
    policy = (
        f"default-src 'none'; img-src 'self' {storage}; media-src 'self' {storage}; "
        f"style-src 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }


def new_nonce() -> str:
    """A fresh CSP nonce for the page's one inline stylesheet."""
    return secrets.token_urlsafe(16)


def _page(title: str, body: str, nonce: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<meta name=robots content=noindex,nofollow>"
        f"<title>{escape(title)}</title><style nonce={nonce}>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _item(item: SharedItem) -> str:
    urls = item["urls"]
    title = escape(item["title"] or "")
    original, playback, thumbnail = urls["original"], urls["playback"] or "", urls["thumbnail"]
    download = f'<a href="{escape(original)}" download>Download</a>' if original else ""
    if item["kind"] == "video":
        # Each source names its codecs: a browser that cannot decode one skips to the next.
        sources = "".join(
            f'<source src="{escape(source["url"])}" type="{escape(source["type"])}">'
            for source in item["sources"]
        )
        poster = f' poster="{escape(thumbnail)}"' if thumbnail else ""
        media = f"<video controls preload=metadata playsinline{poster}>{sources}</video>"
    elif not playback and not thumbnail:
        media = ""  # nothing this link may show (only the original, and it allows no downloads)
    elif item["kind"] == "image":
        media = (
            f'<img src="{escape(thumbnail or playback)}" alt="{title}"'
            f' loading=lazy width="{item["width"] or ""}" height="{item["height"] or ""}">'
        )
        media = f'<a href="{escape(playback)}">{media}</a>' if playback else media
    else:
        media = f'<audio controls preload=none src="{escape(playback)}"></audio>'
    return f"<figure>{media}<figcaption><span>{title}</span>{download}</figcaption></figure>"


def gallery(view: ShareView, nonce: str) -> str:
    """The collection's items: thumbnails, playable videos, full-size images."""
    collection = view["collection"]
    description = f"<p>{escape(collection['description'])}</p>" if collection["description"] else ""
    items = "".join(_item(item) for item in view["items"]) or "<p>Nothing here yet.</p>"
    cover = collection["cover"]
    image = f'<img class=cover src="{escape(cover)}" alt="">' if cover else ""
    body = (
        f"<header>{image}<div><h1>{escape(collection['title'])}</h1>{description}</div></header>"
        f"<main>{items}</main>"
    )
    return _page(collection["title"], body, nonce)


def password_form(action: str, nonce: str, error: str | None = None) -> str:
    """The form a password-protected link shows first."""
    message = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    body = (
        "<header><h1>This link is protected</h1><p>Enter the password you were given.</p></header>"
        f'<form method=post action="{escape(action)}">{message}'
        "<label>Password <input type=password name=password required autofocus "
        "autocomplete=current-password></label><button type=submit>Open</button></form>"
    )
    return _page("Protected link", body, nonce)


def not_found(nonce: str) -> str:
    """The same page for unknown, expired and revoked links."""
    body = "<header><h1>Link not found</h1><p>This link does not exist or has expired.</p></header>"
    return _page("Link not found", body, nonce)
