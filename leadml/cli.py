"""The ``leadml`` command. Thin: each subcommand parses, calls one public function, prints."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from leadml.exceptions import LeadmlError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="leadml: open, inspectable lead scoring."
)
console = Console()


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command()
def build(
    leads: Annotated[Path, typer.Option(help="Leads table (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Output training set (.parquet or .csv).")],
    horizon: Annotated[str, typer.Option(help="Label horizon, e.g. 30d.")] = "30d",
    events: Annotated[Path | None, typer.Option(help="Events table.")] = None,
    conversions: Annotated[Path | None, typer.Option(help="Conversions table.")] = None,
    cutoffs: Annotated[
        Path | None, typer.Option(help="Explicit cut-offs (lead_id, as_of).")
    ] = None,
    every: Annotated[str | None, typer.Option(help="Cut-off schedule, e.g. 7d.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column mapping YAML.")] = None,
    spec_out: Annotated[
        Path | None, typer.Option(help="Write the fitted feature spec (JSON).")
    ] = None,
    drop_unknown_leads: Annotated[
        bool, typer.Option(help="Drop events/conversions of unknown leads (reported).")
    ] = False,
) -> None:
    """Build a point-in-time training set: one row per (lead, cut-off) with features, label, censored."""
    from leadml.features import FeatureSpec, build_training_set
    from leadml.io import load_tables, write_table

    try:
        t0 = time.perf_counter()
        tables = load_tables(
            leads=leads, events=events, conversions=conversions, cutoffs=cutoffs, mapping=mapping
        )
        spec = FeatureSpec()
        with console.status("building features (DuckDB)..."):
            ts = build_training_set(
                tables["leads"],
                tables.get("events"),
                tables.get("conversions"),
                horizon=horizon,
                cutoffs=tables.get("cutoffs"),
                every=every,
                spec=spec,
                unknown_leads="drop" if drop_unknown_leads else "error",
            )
        write_table(ts, out)
        if spec_out is not None:
            spec.to_json(spec_out)
        print_summary(ts, spec.feature_names_, time.perf_counter() - t0)
        console.print(f"wrote {out}")
    except LeadmlError as exc:
        _fail(exc)


def print_summary(ts: pd.DataFrame, features: list[str], seconds: float) -> None:
    """Print the training-set summary table."""
    usable = ~ts["censored"]
    table = Table(title="training set", show_header=False)
    table.add_row("rows (lead x cut-off)", f"{len(ts):,}")
    table.add_row("leads", f"{ts['lead_id'].nunique():,}")
    table.add_row("cut-offs", f"{ts['as_of'].min():%Y-%m-%d} .. {ts['as_of'].max():%Y-%m-%d}")
    table.add_row("censored rows (label window incomplete)", f"{int((~usable).sum()):,}")
    rate = ts.loc[usable, "label"].astype(float).mean() if usable.any() else float("nan")
    table.add_row("label rate (uncensored)", f"{rate:.2%}")
    table.add_row("features", f"{len(features)}")
    table.add_row("time", f"{seconds:.1f} s")
    console.print(table)


@app.command()
def demo(
    n_leads: Annotated[int, typer.Option(help="Synthetic leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run the main job on an embedded synthetic CRM and print the summary."""
    from leadml.datasets import make_crm
    from leadml.features import FeatureSpec, build_training_set

    try:
        t0 = time.perf_counter()
        with console.status("generating a synthetic CRM..."):
            crm = make_crm(n_leads, seed=seed)
        console.print(
            f"synthetic CRM: {len(crm.leads):,} leads, {len(crm.events):,} events, "
            f"{len(crm.conversions):,} conversions ({time.perf_counter() - t0:.1f} s)"
        )
        t1 = time.perf_counter()
        spec = FeatureSpec()
        with console.status("building the point-in-time training set (DuckDB)..."):
            ts = build_training_set(
                crm.leads,
                crm.events,
                crm.conversions,
                horizon=crm.horizon,
                every=crm.every,
                start=crm.start,
                observed_until=crm.observed_until,
                spec=spec,
            )
        print_summary(ts, spec.feature_names_, time.perf_counter() - t1)
    except LeadmlError as exc:
        _fail(exc)


def main() -> None:
    """Entry point of the ``leadml`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
