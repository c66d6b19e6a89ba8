"""The client's subcommands of `mediavault`: login, upload, ls, collections, share, download.

They read no server setting: the server is MEDIAVAULT_URL with MEDIAVAULT_TOKEN, or what
`mediavault login` saved. Exit status: 0 when everything went through, 1 when anything was
refused or failed, 2 for a usage or configuration problem, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediavault.client.api import Api
    from mediavault.client.config import ClientConfig
    from mediavault.client.upload import Result

COMMANDS = frozenset({"login", "upload", "ls", "collections", "share", "download"})
STATUSES = ("pending", "processing", "ready", "failed")
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:/s)?", re.IGNORECASE)


def duration(text: str) -> int | None:
    """`7d`, `12h`, `30m`, `2w`, `90s` in seconds; None for `never`."""
    if text.strip().lower() == "never":
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected 7d, 12h, 30m, 2w or never, got {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def rate(text: str) -> int:
    """`10M`, `500k`, `1G` (bytes a second, in 1024s as curl counts) as bytes a second."""
    match = _RATE.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a rate such as 500k or 10M, got {text!r}")
    power = " kmg".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * 1024**power)


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the client's subcommands to `mediavault`'s parser."""
    login = commands.add_parser("login", help="save a server URL and API token for this user")
    login.add_argument("--url", help="the server, e.g. https://vault.example.org")
    login.add_argument("--insecure", action="store_true",
                       help="accept plain http:// to another machine (the token is readable"
                       " by anyone on the way); remembered for this server")  # fmt: skip
    upload = commands.add_parser("upload", help="upload files and folders, skipping duplicates")
    upload.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    upload.add_argument("-r", "--recursive", action="store_true", help="descend into folders")
    upload.add_argument("--follow-symlinks", action="store_true",
                        help="follow symbolic links found in folders")  # fmt: skip
    upload.add_argument("--collection", metavar="NAME", help="add everything to this collection")
    upload.add_argument("--tag", action="append", default=[], metavar="T", help="repeatable")
    upload.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="files (and parts) sent at once (default 4)")  # fmt: skip
    upload.add_argument("--dry-run", action="store_true", help="show what would be sent")
    upload.add_argument("--wait", action="store_true", help="wait until all are processed")
    upload.add_argument("--keep-duplicates", action="store_true",
                        help="upload files the vault already has, as copies")  # fmt: skip
    upload.add_argument("--limit-rate", type=rate, metavar="RATE",
                        help="at most this many bytes a second overall, e.g. 10M")  # fmt: skip
    ls = commands.add_parser("ls", help="list your media")
    ls.add_argument("--tag", action="append", default=[], metavar="T", help="repeatable")
    ls.add_argument("--status", choices=STATUSES)
    commands.add_parser("collections", help="list your collections")
    share = commands.add_parser("share", help="make a share link for a collection")
    share.add_argument("collection", metavar="COLLECTION", help="its title or id")
    share.add_argument("--expires", type=duration, default=7 * 86400, metavar="7d",
                       help="7d, 12h, 2w or never (default 7d)")  # fmt: skip
    share.add_argument("--password", action="store_true",
                       help="ask for a password (read from stdin if not a terminal)")  # fmt: skip
    share.add_argument("--allow-download", action="store_true", help="let visitors download")
    download = commands.add_parser(
        "download", help="download a media or a collection",
        description="Fetch originals into DIR, each checked against its SHA-256. Names from the"
        " server are made safe (no folders, no hidden names, at most 255 bytes). A file already"
        " in DIR under an item's name is left alone and reported as not overwritten (exit status"
        " 1), unless --overwrite; an identical one counts as present.",
    )  # fmt: skip
    download.add_argument("target", metavar="MEDIA|COLLECTION", help="an id, or a title")
    download.add_argument("directory", type=Path, metavar="DIR")
    download.add_argument("--concurrency", type=int, default=4, metavar="N")
    download.add_argument("--overwrite", action="store_true",
                          help="replace files in DIR that have an item's name")  # fmt: skip


def run_client(args: argparse.Namespace) -> int:
    """Run one client command; errors become a message and a non-zero status."""
    from mediavault.client.errors import ClientError, Interrupted, NotConfigured

    environ = dict(os.environ)
    handlers: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], int]] = {
        "login": _login, "upload": _upload, "ls": _ls, "collections": _collections,
        "share": _share, "download": _download,
    }  # fmt: skip
    try:
        return handlers[args.command](args, environ)
    except NotConfigured as error:
        _error(str(error))
        return 2
    except (KeyboardInterrupt, Interrupted):
        _error("interrupted")
        return 130
    except ClientError as error:
        _error(str(error))
        return 1
    except OSError as error:  # a local file or folder: the message names it
        _error(str(error))
        return 1


def _say(line: str) -> None:
    """A line of the command's output (stdout: what scripts read)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _error(message: str) -> None:
    from mediavault.client.names import printable

    # Messages can quote the server: nothing it sends may drive the terminal.
    sys.stderr.write(f"mediavault: {printable(message)}\n")


def _api(config: ClientConfig, connections: int = 8) -> Api:
    from mediavault.client.api import Api

    if config.insecure:
        _error(f"warning: {config.url} is not HTTPS: the token travels unencrypted")
    return Api(config, connections=connections)


def _login(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import getpass

    from mediavault.client.config import (
        ClientConfig,
        insecure_allowed,
        normalise_url,
        refuse_plain_http,
    )

    url = normalise_url(args.url or environ.get("MEDIAVAULT_URL") or input("Server URL: "))
    allowed = args.insecure or insecure_allowed(environ)
    if ClientConfig(url, "").insecure and not allowed:
        raise refuse_plain_http(url, "`mediavault login --insecure`")  # before asking the token
    if sys.stdin.isatty():
        token = getpass.getpass("API token (from the web app's API tokens page): ")
    else:
        token = sys.stdin.readline()
    config = ClientConfig(url, token.strip(), allow_insecure=allowed)
    api = _api(config)
    try:
        user = api.me()
    finally:
        api.close()
    path = config.save(environ)
    _say(f"signed in to {config.url} as {user['username']}; saved in {path}")
    return 0


def _upload(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import threading

    from mediavault.client.config import ClientConfig, state_dir
    from mediavault.client.errors import ClientError
    from mediavault.client.files import scan
    from mediavault.client.library import fill_collection, find_collection, wait_processed
    from mediavault.client.progress import display_for
    from mediavault.client.state import ResumeState
    from mediavault.client.transfer import RateLimit, Transfers
    from mediavault.client.upload import Outcome, Uploader, UploadOptions

    if args.concurrency < 1:
        raise ClientError("--concurrency must be at least 1")
    scanned = scan(args.paths, recursive=args.recursive, follow_symlinks=args.follow_symlinks)
    for line in scanned.problems + scanned.skipped:
        _error(line)
    config = ClientConfig.load(environ)
    stop = threading.Event()
    connections = 2 * args.concurrency + 2
    api = _api(config, connections)
    api.stop = stop
    limit = RateLimit(args.limit_rate) if args.limit_rate else None
    transfers = Transfers(stop=stop, rate_limit=limit, connections=connections)
    try:
        user = api.me()
        state = ResumeState(state_dir(environ) / "uploads.sqlite3", f"{config.url} {user['id']}")
        collection = None
        if args.collection and not args.dry_run:
            collection = find_collection(api, args.collection, create=True)
        options = UploadOptions(
            concurrency=args.concurrency,
            tags=tuple(args.tag),
            dry_run=args.dry_run,
            keep_duplicates=args.keep_duplicates,
        )
        display = display_for()
        started = time.monotonic()
        try:
            uploader = Uploader(api, transfers, state, display=display, options=options, stop=stop)
            results, interrupted = uploader.run(scanned.files)
            seconds = time.monotonic() - started  # the upload, not the processing awaited
            if collection is not None and not interrupted:
                ids = [r.media_id for r in results if r.media_id and r.outcome in
                       (Outcome.UPLOADED, Outcome.DUPLICATE)]  # fmt: skip
                fill_collection(api, str(collection["id"]), ids)
                display.note(f"collection {collection['title']!r}: {len(set(ids))} items added")
            if args.wait and not interrupted and not args.dry_run:
                results = wait_processed(api, results, display, stop)
        finally:
            display.close()
            state.close()
        _say(_summary(results, uploader.clock.seconds, seconds, interrupted))
    finally:
        api.close()
        transfers.close()
    if interrupted:
        _error("interrupted: run the same command again to finish; nothing is sent twice")
        return 130
    return 1 if any(r.outcome in (Outcome.REFUSED, Outcome.FAILED) for r in results) else 0


def _summary(results: list[Result], sending: float, seconds: float, interrupted: bool) -> str:
    from mediavault.client.progress import human_bytes
    from mediavault.client.upload import Outcome

    def having(outcome: Outcome) -> list[Result]:
        return [r for r in results if r.outcome is outcome]

    sent = sum(r.sent_bytes for r in results)
    uploaded, planned = having(Outcome.UPLOADED), having(Outcome.PLANNED)
    resumed = sum(1 for r in uploaded if r.resumed)
    head = (
        f"{len(uploaded)} uploaded" + (f" ({resumed} resumed)" if resumed else "")
        + f", {len(having(Outcome.DUPLICATE))} skipped as duplicates"
        + f", {len(having(Outcome.REFUSED))} refused, {len(having(Outcome.FAILED))} failed"
        + (f", {len(planned)} to upload" if planned else "")
    )  # fmt: skip
    speed = f"{human_bytes(sent / sending)}/s" if sending > 0 else "-"
    lines = [f"{'interrupted' if interrupted else 'done'}: {head}; {human_bytes(sent)} sent"
             f" in {sending:.2f} s ({speed}), {seconds:.2f} s in all"]  # fmt: skip
    for outcome in (Outcome.REFUSED, Outcome.FAILED):
        if having(outcome):
            lines.append(f"{outcome.value}:")
            lines += [f"  {r.file.name}: {r.detail}" for r in having(outcome)]
    return "\n".join(lines)


def _ls(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from mediavault.client.config import ClientConfig
    from mediavault.client.progress import human_bytes

    api = _api(ClientConfig.load(environ))
    try:
        for media in api.list_media(status=args.status, tags=tuple(args.tag)):
            tags = f"  [{', '.join(media['tags'])}]" if media["tags"] else ""
            size = human_bytes(media["size_bytes"])
            _say(f"{media['id']}  {media['status']:<10} {media['kind']:<5} {size:>9}"
                 f"  {media['filename']}{tags}")  # fmt: skip
    finally:
        api.close()
    return 0


def _collections(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from mediavault.client.config import ClientConfig

    api = _api(ClientConfig.load(environ))
    try:
        for collection in api.collections():
            _say(f"{collection['id']}  {collection['item_count']:>5} items  {collection['title']}")
    finally:
        api.close()
    return 0


def _share(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import getpass

    from mediavault.client.config import ClientConfig
    from mediavault.client.library import find_collection

    body: dict[str, object] = {"expires_in_seconds": args.expires,
                               "allow_download": args.allow_download}  # fmt: skip
    if args.password:
        password = (getpass.getpass("Password for the link: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))  # fmt: skip
        body["password"] = password
    api = _api(ClientConfig.load(environ))
    try:
        collection = find_collection(api, args.collection)
        link = api.create_share(str(collection["id"]), body)
    finally:
        api.close()
    until = f" (until {link['expires_at']})" if link.get("expires_at") else " (no expiry)"
    _say(str(link["url"]))
    _error(f"share link for {collection['title']!r}{until}; it is shown only now")
    return 0


def _download(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from mediavault.client.config import ClientConfig
    from mediavault.client.download import Downloader, items_of
    from mediavault.client.progress import display_for
    from mediavault.client.transfer import Transfers

    api = _api(ClientConfig.load(environ), 2 * args.concurrency + 2)
    transfers = Transfers(connections=2 * args.concurrency + 2)
    display = display_for()
    try:
        items = items_of(api, args.target)
        downloader = Downloader(api, transfers, display, args.concurrency,
                                overwrite=args.overwrite)  # fmt: skip
        try:
            fetched = downloader.run(items, args.directory)
        finally:
            display.close()
    finally:
        api.close()
        transfers.close()
    counts = {o: sum(1 for f in fetched if f.outcome == o) for o in
              ("downloaded", "present", "kept", "skipped", "failed")}  # fmt: skip
    words = {"kept": "not overwritten"}
    _say("done: " + ", ".join(f"{n} {words.get(o, o)}" for o, n in counts.items())
         + f" into {args.directory}")  # fmt: skip
    if counts["kept"]:
        _error(f"{counts['kept']} not overwritten: a different file already has the name"
               " (--overwrite replaces it)")  # fmt: skip
    return 1 if counts["failed"] or counts["skipped"] or counts["kept"] else 0
