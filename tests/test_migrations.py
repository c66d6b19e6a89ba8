"""Migrations: the whole data model applies to an empty database, and again as a no-op."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from mediavault.config import DatabaseSettings
from mediavault.migrate import apply_migrations
from tests.conftest import Stack

TABLES = {
    "users", "sessions", "api_tokens", "media", "tags", "media_tags", "collections",
    "collection_items", "share_links", "processing_jobs",
}  # fmt: skip


@pytest.fixture
def empty_database(stack: Stack) -> Iterator[DatabaseSettings]:
    """A brand-new database in the test cluster, dropped afterwards."""
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    admin = replace(stack.settings.database, name="postgres")
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield replace(stack.settings.database, name=name)
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(settings: DatabaseSettings) -> set[str]:
    with psycopg.connect(settings.conninfo()) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_migrations_apply_to_an_empty_database_then_are_a_no_op(
    empty_database: DatabaseSettings,
) -> None:
    assert not (_tables(empty_database) & TABLES)
    first = apply_migrations(empty_database)
    assert first, "an empty database must receive migrations"
    assert _tables(empty_database) >= TABLES
    assert apply_migrations(empty_database) == []
    assert _tables(empty_database) >= TABLES


def test_tokens_are_stored_as_hashes_only(empty_database: DatabaseSettings) -> None:
    apply_migrations(empty_database)
    with psycopg.connect(empty_database.conninfo()) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name LIKE '%%token%%'"
        ).fetchall()
    assert columns
    assert all(column == "token_hash" for _, column in columns), columns
