"""The `mediavault` command: init, worker, reconcile, token, migrate-keys; dev, gateway (local)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mediavault.config import Settings, exit_with_config_error
from mediavault.errors import ConfigError, MediaVaultError
from mediavault.logs import configure_logging

logger = logging.getLogger(__name__)


def _parser(*, registered: bool = True) -> argparse.ArgumentParser:
    from mediavault.client.cli import add_commands

    parser = argparse.ArgumentParser(prog="mediavault", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="migrate the database, create the bucket and its events")
    commands.add_parser("dev", help="run the whole local stack until Ctrl-C")
    oauth = commands.add_parser(
        "dev-discord", help="DEVELOPMENT ONLY: a local OAuth2 provider standing in for Discord"
    )
    oauth.add_argument("--port", type=int, default=18090)
    oauth.add_argument("--username", default="alice", help="who every sign-in is")
    oauth.add_argument("--user-id", default="100000000000000001", help="their Discord id")
    oauth.add_argument("--guild-id", action="append", default=[], help="servers they are in")
    reconcile = commands.add_parser(
        "reconcile", help="clean abandoned uploads, re-enqueue stuck ones (once, or on a schedule)"
    )
    reconcile.add_argument(
        "--every", type=float, metavar="SECONDS", help="run again every SECONDS until stopped"
    )
    commands.add_parser(
        "migrate-keys", help="move objects stored under their owner's id to keys naming no owner"
    )
    gateway = commands.add_parser("gateway", help="serve the local gateway")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8080)
    gateway.add_argument(
        "--upstream", action="append", default=[], metavar="FUNCTION=URL", required=True
    )
    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="print a new API token for a user")
    create.add_argument("--user", required=True, help="username; a local user is made if needed")
    create.add_argument("--name", default="cli", help="what the token is for")
    add_commands(commands)
    if registered:
        from mediavault.commands import registered as registered_commands

        for command in registered_commands():
            registered_parser = commands.add_parser(command.name, help=command.help)
            command.configure(registered_parser)
            registered_parser.set_defaults(registered=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; configuration and operational errors exit non-zero with a message."""
    from mediavault.client.cli import COMMANDS, run_client

    argv = list(sys.argv[1:] if argv is None else argv)
    # The client's commands need neither the server's settings nor other packages' commands.
    if argv and argv[0] in COMMANDS:
        return run_client(_parser(registered=False).parse_args(argv))
    args = _parser().parse_args(argv)
    try:
        # No command signs anyone in: the sign-in secrets belong to the functions alone.
        settings = Settings.from_env(sign_in=False)
        configure_logging(settings.log_level)
        return _run(args, settings)
    except ConfigError as error:
        exit_with_config_error(error)
    except MediaVaultError as error:
        print(f"mediavault: {error}", file=sys.stderr)  # noqa: T201
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:  # noqa: PLR0911  (one per command)
    if args.command == "init":
        from mediavault.config import ProvisionSettings
        from mediavault.provision import initialize

        report = initialize(settings, ProvisionSettings.from_env())
        logger.info(
            "init done: %d migrations applied, bucket %s",
            len(report.migrations_applied),
            "created" if report.bucket_created else "present",
        )
        return 0
    if args.command in ("dev", "dev-discord"):
        return _dev(args, settings)
    if args.command == "reconcile":
        return _reconcile(settings, args.every)
    if args.command == "migrate-keys":
        return _migrate_keys(settings)
    if getattr(args, "registered", None) is not None:
        return int(args.registered.run(args, settings))
    if args.command == "gateway":
        from mediavault.gateway import serve

        serve(args.host, args.port, _upstreams(args.upstream))
        return 0
    return _create_token(settings, args.user, args.name)


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    """The local stack, or its development OAuth2 provider alone."""
    if args.command == "dev-discord":
        if settings.production:
            raise ConfigError(
                "MEDIAVAULT_ENV", "the development OAuth2 provider never runs in production"
            )
        from mediavault.devstack.oauth import serve as serve_oauth

        serve_oauth(args.port, args.username, args.user_id, args.guild_id)
        return 0
    from mediavault.devstack.layout import Binaries, StackLayout
    from mediavault.devstack.run import run_dev_stack

    layout = StackLayout.from_env(settings)
    return run_dev_stack(layout, Binaries.locate(layout.tools_dir))


def _create_token(settings: Settings, username: str, name: str) -> int:
    from psycopg_pool import PoolTimeout

    from mediavault.db import create_pool
    from mediavault.users import create_api_token, get_or_create_local_user

    pool = create_pool(settings.database, open_now=False)
    try:
        pool.open(wait=True, timeout=float(settings.database.connect_timeout_seconds) + 2)
    except PoolTimeout:
        pool.close()
        db = settings.database
        raise MediaVaultError(f"cannot reach PostgreSQL at {db.host}:{db.port}") from None
    try:
        with pool.connection() as conn:
            user = get_or_create_local_user(conn, username)
            created = create_api_token(conn, user.id, name)
    finally:
        pool.close()
    print(f"created API token {created.id} for {user.username} ({user.id})", file=sys.stderr)  # noqa: T201
    print(created.token)  # noqa: T201  (stdout carries only the token, for scripts)
    return 0


def _reconcile(settings: Settings, every: float | None) -> int:
    from mediavault.reconcile import reconcile_forever, reconcile_once
    from mediavault.services import Services

    services = Services.from_settings(settings)
    try:
        if every is None:
            reconcile_once(services)
        else:
            reconcile_forever(services, every)
    finally:
        services.close()
    return 0


def _migrate_keys(settings: Settings) -> int:
    """Copy, delete and list across every prefix: like `init`, with MinIO's root account."""
    from dataclasses import replace

    from mediavault.config import ProvisionSettings
    from mediavault.db import create_pool
    from mediavault.keymove import migrate_keys
    from mediavault.storage import Storage

    root = ProvisionSettings.from_env().root
    storage = Storage.from_settings(
        replace(settings.storage, access_key=root.access_key, secret_key=root.secret_key)
    )
    pool = create_pool(settings.database)
    try:
        migrate_keys(pool, storage)
    finally:
        pool.close()
    return 0


def _upstreams(values: Sequence[str]) -> dict[str, str]:
    upstreams = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not url:
            raise ConfigError("--upstream", f"expected FUNCTION=URL, got {value!r}")
        upstreams[name] = url
    return upstreams


if __name__ == "__main__":
    raise SystemExit(main())
