"""Team views of ``otio-heygen ledger``: purchases grouped by output, workstation or day, and the
team budget cap (``otio-heygen ledger budget [set AMOUNT | clear]``).

The budget lives in the team ledger (PostgreSQL), so every workstation sharing it respects it
before buying (``otio_heygen.run.ledger_pg``); an embedded (SQLite) ledger has no team budget.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from otio_heygen.config import load_settings
from otio_heygen.errors import ConfigError
from otio_heygen.run.ledger import account_for_key, open_ledger

__all__ = ["GROUPINGS", "budget", "group_rows", "print_groups"]

GROUPINGS = ("output", "workstation", "day")


def group_rows(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Billed purchases added up per output (the first output using a video), workstation or day."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row["billed"]:
            continue
        if by == "output":
            name = row["outputs"][0] if row["outputs"] else "(not placed yet)"
        elif by == "workstation":
            name = row.get("workstation") or "(this machine)"
        else:
            name = str(row["created_at"])[:10]
        group = groups.setdefault(name, {by: name, "videos": 0, "seconds": 0.0, "usd": 0.0})
        group["videos"] += 1
        group["seconds"] = round(group["seconds"] + float(row["seconds"]), 3)
        group["usd"] = round(group["usd"] + float(row["cost_usd"]), 6)
    return sorted(groups.values(), key=lambda g: str(g[by]))


def print_groups(groups: list[dict[str, Any]], by: str, title: str) -> None:
    console = Console(highlight=False)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for header in (by, "videos", "secs", "cost"):
        table.add_column(header, overflow="fold")
    for g in groups:
        table.add_row(str(g[by]), str(g["videos"]), f"{g['seconds']:.1f}", f"${g['usd']:.2f}")
    console.print(table)


def _team_store() -> tuple[Any, str]:
    settings = load_settings()
    if settings.api_key is None:
        raise ConfigError("the team budget belongs to a HeyGen account: no key is configured",
                          hint="set HEYGEN_API_KEY or run 'otio-heygen key set'")
    store = open_ledger(settings.ledger, workstation=settings.workstation)
    if not hasattr(store, "set_budget"):
        store.close()
        raise ConfigError(
            f"a team budget needs the team ledger; this one is a file ({store.location})",
            hint="set OTIO_HEYGEN_LEDGER=postgresql://... on every workstation (README: Team setup)",
        )
    return store, account_for_key("heygen", settings.api_key.get_secret_value())


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def budget(ctx: click.Context, as_json: bool) -> None:
    """Show the team's spending cap, what is spent and what is left."""
    ctx.obj = {"json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    store, account = _team_store()
    try:
        cap, spent, location = store.budget(account), store.committed(account), store.location
    finally:
        store.close()
    left = None if cap is None else round(max(0.0, cap - spent), 2)
    if as_json:
        click.echo(json.dumps({"ledger": location, "account": account, "cap_usd": cap, "spent_usd": spent,
                               "left_usd": left}))
    elif cap is None:
        click.echo(f"no team budget (spent ${spent:.2f}; ledger {location})")
    else:
        click.echo(f"team budget ${cap:.2f}: spent ${spent:.2f}, ${left:.2f} left (ledger {location})")


@budget.command("set")
@click.argument("amount", type=click.FloatRange(min=0))
def budget_set(amount: float) -> None:
    """Cap what the whole team may spend on this account (USD); every workstation checks it before buying."""
    store, account = _team_store()
    try:
        store.set_budget(account, amount, now=time.time())
        spent = store.committed(account)
    finally:
        store.close()
    click.echo(f"team budget set to ${amount:.2f} (spent so far ${spent:.2f})")


@budget.command("clear")
def budget_clear() -> None:
    """Remove the team's spending cap."""
    store, account = _team_store()
    try:
        store.set_budget(account, None, now=time.time())
    finally:
        store.close()
    click.echo("team budget removed")
