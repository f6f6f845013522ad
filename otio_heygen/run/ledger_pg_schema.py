"""The team ledger's own tables: append-only migrations applied after the shared ledger schema.

``otio_heygen.run.ledger_pg`` applies ``ledger_sqlite.MIGRATIONS`` and then these, each once, by
name: which workstation recorded an intent or a video, the account-wide render slots, the team
budget, job claims and the suites running (each with the ``--concurrency`` it asked for; see
``otio_heygen.run.slots_pg``).
"""

from __future__ import annotations

__all__ = ["TEAM_MIGRATIONS"]

TEAM_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "team_001_workstations",
        (
            "ALTER TABLE ledger_intents ADD COLUMN workstation TEXT",
            "ALTER TABLE ledger_videos ADD COLUMN workstation TEXT",
        ),
    ),
    (
        "team_002_slots",
        (
            """CREATE TABLE team_slots (
                account TEXT NOT NULL,
                slot INTEGER NOT NULL,
                holder TEXT,
                workstation TEXT,
                lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
                PRIMARY KEY (account, slot)
            )""",
        ),
    ),
    (
        "team_003_budget",
        (
            """CREATE TABLE team_budget (
                account TEXT PRIMARY KEY,
                cap_usd DOUBLE PRECISION,
                set_at DOUBLE PRECISION NOT NULL,
                set_by TEXT
            )""",
        ),
    ),
    (
        "team_004_claims",
        (
            """CREATE TABLE team_claims (
                account TEXT NOT NULL,
                job_key TEXT NOT NULL,
                holder TEXT NOT NULL,
                workstation TEXT,
                lease_until DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (account, job_key)
            )""",
        ),
    ),
    (
        "team_005_suites",
        (
            """CREATE TABLE team_suites (
                holder TEXT PRIMARY KEY,
                account TEXT NOT NULL,
                workstation TEXT,
                wanted INTEGER NOT NULL,
                lease_until DOUBLE PRECISION NOT NULL
            )""",
            # a claim someone waited for: its release is announced (NOTIFY), others' are not
            "ALTER TABLE team_claims ADD COLUMN waited BOOLEAN NOT NULL DEFAULT false",
        ),
    ),
)
"""Append-only, after the shared ``MIGRATIONS``; each applied once, by name."""
