"""``otio-heygen ledger``: what the account has bought (no network, never the key).

One row per video the account paid for (or that is still rendering): section, seconds, cost,
video id, when it was created, its state and the output timelines using it. Read from the
account ledger (``otio_heygen.run.ledger``); the account is the configured HeyGen key's
fingerprint, or every account in the ledger with ``--all`` (or when no key is set).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from otio_heygen.config import load_settings
from otio_heygen.run.ledger import Purchase, account_for_key, open_ledger

__all__ = ["ledger", "purchase_json"]


def purchase_json(p: Purchase) -> dict[str, Any]:
    return {
        "account": p.account,
        "section": p.section,
        "seconds": round(p.seconds, 3),
        "cost_usd": round(p.cost_usd, 6) if p.billed else 0.0,
        "billed": p.billed,
        "video_id": p.video_id,
        "state": p.state,
        "created_at": datetime.fromtimestamp(p.created_at).astimezone().isoformat(timespec="seconds"),
        "job_key": p.job_key,
        "outputs": list(p.outputs),
    }


@click.command()
@click.option("--all", "all_accounts", is_flag=True, help="Every account in the ledger (and offline previews).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def ledger(all_accounts: bool, as_json: bool) -> None:
    """List what the HeyGen account has bought: section, seconds, cost, video id, created, outputs."""
    settings = load_settings()
    account = None
    if settings.api_key is not None and not all_accounts:
        account = account_for_key("heygen", settings.api_key.get_secret_value())
    store = open_ledger(settings.ledger)
    try:
        rows = [purchase_json(p) for p in store.purchases(account)]
        location = store.location
    finally:
        store.close()
    billed = [r for r in rows if r["billed"]]
    total_usd = round(sum(float(r["cost_usd"]) for r in billed), 2)
    total_s = round(sum(float(r["seconds"]) for r in billed), 3)
    if as_json:
        click.echo(json.dumps({"ledger": location, "account": account, "purchases": rows,
                               "bought": {"count": len(billed), "seconds": total_s, "usd": total_usd}}))
        return
    console = Console(highlight=False)
    who = f"account {account}" if account else "all accounts"
    if not rows:
        console.print(f"nothing bought yet ({who}; ledger {location})")
        return
    table = Table(title=f"bought by {who} (ledger {location})", title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("section", "secs", "cost", "video id", "created", "state", "used by"):
        table.add_column(header, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["section"]), f"{r['seconds']:.2f}", f"${r['cost_usd']:.2f}", str(r["video_id"]),
            str(r["created_at"]).replace("T", " ")[:16], str(r["state"]), "\n".join(r["outputs"]) or "-",
        )
    console.print(table)
    console.print(f"total bought: {len(billed)} video(s), {total_s:.1f} s, ${total_usd:.2f}")
