"""The ``leadml`` command. Thin: each subcommand parses, calls one public function, prints."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from leadml.exceptions import LeadmlError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="leadml: open, inspectable lead scoring."
)
console = Console(width=None if sys.stdout.isatty() else 150)


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
    partitions: Annotated[
        int | None,
        typer.Option(
            help="Build part by part (leads grouped by account) and stream to Parquet, for event "
            "logs larger than memory; 0 = one part per ~4M events. --events may then be a folder "
            "of Parquet files."
        ),
    ] = None,
    max_age: Annotated[
        str | None, typer.Option(help="With --every: only leads at most this old, e.g. 90d.")
    ] = None,
) -> None:
    """Build a point-in-time training set: one row per (lead, cut-off) with features, label, censored."""
    from leadml.features import FeatureSpec, build_training_set
    from leadml.io import load_tables, write_table

    if partitions is not None:
        _build_parts(
            leads=leads,
            out=out,
            horizon=horizon,
            events=events,
            conversions=conversions,
            cutoffs=cutoffs,
            every=every,
            mapping=mapping,
            spec_out=spec_out,
            drop_unknown_leads=drop_unknown_leads,
            partitions=partitions,
            max_age=max_age,
        )
        return
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
                max_age=max_age,
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


def _build_parts(
    *,
    leads: Path,
    out: Path,
    horizon: str,
    events: Path | None,
    conversions: Path | None,
    cutoffs: Path | None,
    every: str | None,
    mapping: Path | None,
    spec_out: Path | None,
    drop_unknown_leads: bool,
    partitions: int,
    max_age: str | None,
) -> None:
    from rich.progress import Progress

    from leadml.features import FeatureSpec, write_training_set
    from leadml.schema import ColumnMapping

    if events is None:
        _fail(LeadmlError("build --partitions needs --events (partitioning splits the event log)."))
    assert events is not None
    try:
        spec = FeatureSpec()
        with Progress(console=console, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def tick(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=total)
                bar.update(tasks[step], completed=done)

            res = write_training_set(
                out,
                leads,
                events,
                conversions,
                horizon=horizon,
                cutoffs=cutoffs,
                every=every,
                max_age=max_age,
                spec=spec,
                unknown_leads="drop" if drop_unknown_leads else "error",
                partitions=partitions or None,
                mapping=ColumnMapping.from_yaml(mapping) if mapping is not None else None,
                progress=tick,
            )
        if spec_out is not None:
            spec.to_json(spec_out)
        table = Table(title="training set (built in parts)", show_header=False)
        table.add_row("rows (lead x cut-off)", f"{res.rows:,}")
        table.add_row(
            "parts",
            f"{res.partitions} (rows per part {min(res.rows_per_part):,}..{max(res.rows_per_part):,})",
        )
        table.add_row("events", f"{res.events:,}")
        table.add_row("censored rows (label window incomplete)", f"{res.censored:,}")
        table.add_row("label rate (uncensored)", f"{res.label_rate:.2%}")
        table.add_row("features", f"{len(res.feature_names)}")
        table.add_row("time", f"{res.seconds:.1f} s")
        console.print(table)
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


def print_comparison(report: Any, title: str = "rules vs model (same rows)") -> None:
    """Print the comparison table of a :class:`ComparisonReport`."""
    from leadml.evaluation._report import LABELS

    iv = report.intervals.set_index(["model", "metric"]) if len(report.intervals) else None
    cols = ["auc", "pr_auc", "log_loss", "brier", "ece", "cal_slope", "lift_10", "capture_20"]
    table = Table(title=title)
    table.add_column("model")
    for c in cols:
        table.add_column(LABELS[c], justify="right")
        if c == "auc" and iv is not None:
            table.add_column("AUC 95% CI", justify="right")
    for model, row in report.metrics.iterrows():
        cells = []
        for c in cols:
            cells.append(f"{row[c]:.3f}")
            if c == "auc" and iv is not None:
                if (model, c) in iv.index:
                    lo, hi = iv.loc[(model, c), ["low", "high"]]
                    cells.append(f"[{lo:.3f}, {hi:.3f}]")
                else:
                    cells.append("-")
        table.add_row(str(model), *cells)
    console.print(table)
    if iv is not None:
        first = str(report.metrics.index[0])
        for model in report.metrics.index[1:]:
            key = f"{model} - {first}"
            if (key, "auc") in iv.index:
                parts = []
                for c in ("auc", "log_loss"):
                    e, lo, hi = iv.loc[(key, c), ["estimate", "low", "high"]]
                    parts.append(f"{LABELS[c]} {e:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                console.print(f"{model} vs {first} (paired, 95% CI): " + ", ".join(parts))
    info = report.info
    console.print(
        f"test rows: {info.get('rows', 0):,} ({info.get('leads') or 0:,} leads), conversions: "
        f"{info.get('conversions', 0):,} ({info.get('label_rate', float('nan')):.2%})"
        + (f", window {info['window']}" if info.get("window") else "")
    )
    if len(report.by_band):
        bt = Table(title="conversion rate by band")
        bt.add_column("model")
        bands = list(dict.fromkeys(report.by_band["band"]))
        for b in bands:
            bt.add_column(str(b), justify="right")
        for model, g in report.by_band.groupby("model", sort=False):
            g = g.set_index("band")
            bt.add_row(
                str(model),
                *[
                    f"{g.loc[b, 'conversion_rate']:.1%} ({g.loc[b, 'share']:.0%} of leads)"
                    if b in g.index
                    else "-"
                    for b in bands
                ],
            )
        console.print(bt)


def print_subsets(report: Any) -> None:
    """Print LightGBM's test figures for all rows and for the leads never seen in training."""
    sub = report.subsets
    if not len(sub):
        return
    for r in sub[sub["model"] == "lightgbm"].to_dict("records"):
        if pd.isna(r.get("auc")):
            continue
        console.print(
            f"{r['subset']}: {r['rows']:,} rows, {r['leads']:,} leads, {r['conversions']:,} "
            f"conversions; LightGBM AUC {r['auc']:.3f}, ECE {r['ece']:.4f}, mean p / rate "
            f"{r['citl']:.2f}"
        )


def print_split(summary: pd.DataFrame) -> None:
    """Print which rows were used for what, and which were left out and why."""
    table = Table(title="rows used (backtest at an earlier origin, production fit on all)")
    for c in ["part", "rows", "leads", "conversions", "rate", "from", "to"]:
        table.add_column(c, justify="left" if c == "part" else "right")
    for r in summary.to_dict("records"):
        rate = r["label_rate"]
        table.add_row(
            str(r["part"]),
            f"{int(r['rows']):,}",
            f"{int(r['leads']):,}",
            f"{int(r['conversions']):,}",
            "-" if pd.isna(rate) else f"{float(rate):.2%}",
            "-" if pd.isna(r["from"]) else f"{pd.Timestamp(r['from']):%Y-%m-%d}",
            "-" if pd.isna(r["to"]) else f"{pd.Timestamp(r['to']):%Y-%m-%d}",
        )
    console.print(table)
    share = summary.attrs.get("backtest_share")
    if share is not None:
        console.print(f"the backtest used {share:.1%} of the labelled rows outside its gap")


def print_scores(scores: pd.DataFrame, n: int = 10) -> None:
    """Print the first ``n`` scored leads."""
    table = Table(title=f"scored leads (first {min(n, len(scores))} of {len(scores):,})")
    for c in scores.columns:
        table.add_column(c, justify="left" if c in ("lead_id", "grade", "band") else "right")
    for r in scores.head(n).itertuples(index=False):
        cells = []
        for c, v in zip(scores.columns, r, strict=True):
            if c == "p_convert":
                cells.append(f"{v:.3f}")
            elif c in ("fit_score", "engagement_score"):
                cells.append(f"{v:.1f}")
            elif c == "as_of":
                cells.append("-" if pd.isna(v) else f"{v:%Y-%m-%d %H:%M}")
            elif isinstance(v, float):
                cells.append(f"{v:g}")
            else:
                cells.append(str(v))
        table.add_row(*cells)
    console.print(table)


@app.command()
def train(
    leads: Annotated[Path, typer.Option(help="Leads table (CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    events: Annotated[Path | None, typer.Option(help="Events table.")] = None,
    conversions: Annotated[Path | None, typer.Option(help="Conversions table.")] = None,
    cutoffs: Annotated[
        Path | None, typer.Option(help="Explicit cut-offs (lead_id, as_of).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TrainConfig YAML (horizon, schedule, backtest, calibration, ...)."),
    ] = None,
    every: Annotated[str | None, typer.Option(help="Cut-off schedule, e.g. 7d.")] = None,
    horizon: Annotated[str | None, typer.Option(help="Label horizon (default 30d).")] = None,
    max_age: Annotated[str | None, typer.Option(help="Only score leads up to this age.")] = None,
    start: Annotated[str | None, typer.Option(help="First scheduled cut-off.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column mapping YAML.")] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Profile column that must not be a feature (repeatable)."),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Scorecard YAML (default: a generic engagement scorecard).")
    ] = None,
    origins: Annotated[
        int | None, typer.Option(help="Backtest origins (rolling-origin evaluation; default 1).")
    ] = None,
    label_start: Annotated[
        str | None,
        typer.Option(help="auto (detect late conversion tracking), none, or a date."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Report directory (default: OUT/report).")
    ] = None,
    search: Annotated[
        bool | None, typer.Option("--search/--no-search", help="Small hyperparameter search.")
    ] = None,
    calibration: Annotated[str | None, typer.Option(help="sigmoid, isotonic or auto.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap resamples for intervals.")] = None,
    drop_unknown_leads: Annotated[
        bool, typer.Option(help="Drop events/conversions of unknown leads (reported).")
    ] = False,
    mlflow: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)."),
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "leadml",
    register: Annotated[
        str | None, typer.Option(help="Register the model under this name (alias challenger).")
    ] = None,
) -> None:
    """Backtest rules, logistic regression and LightGBM at an earlier origin; fit the same
    procedure on all labelled history; print the comparison; save the production model."""
    from leadml.io import load_tables
    from leadml.modeling import train as train_model

    try:
        t0 = time.perf_counter()
        options = _given(
            every=every,
            horizon=horizon,
            max_age=max_age,
            start=start,
            exclude=exclude or None,
            rules=rules,
            origins=origins,
            label_start=label_start,
            search=search,
            calibration=calibration,
            seed=seed,
            n_boot=n_boot,
            unknown_leads="drop" if drop_unknown_leads else None,
        )
        tables = load_tables(
            leads=leads, events=events, conversions=conversions, cutoffs=cutoffs, mapping=mapping
        )
        with console.status("building features, backtest and production fit (DuckDB, LightGBM)..."):
            res = train_model(
                tables["leads"],
                tables.get("events"),
                tables.get("conversions"),
                config=config,
                cutoffs=tables.get("cutoffs"),
                **options,
            )
        _print_result(res)
        if mlflow or register:
            _log_mlflow(res, tracking_uri, experiment, register, rules)
        res.model.save(out)
        paths = res.report.write(report if report is not None else out / "report")
        console.print(f"model saved to {out}; report: {paths['html']}")
        console.print(f"done in {time.perf_counter() - t0:.1f} s")
    except LeadmlError as exc:
        _fail(exc)


def _given(**options: Any) -> dict[str, Any]:
    """The options actually given on the command line (they override the config file)."""
    return {k: v for k, v in options.items() if v is not None}


def _log_mlflow(
    res: Any, tracking_uri: str | None, experiment: str, register: str | None, rules: Path | None
) -> None:
    from leadml.tracking import log_training

    with console.status("logging to MLflow..."):
        info = log_training(
            res,
            tracking_uri=tracking_uri,
            experiment=experiment,
            register=register,
            rules_path=rules,
        )
    console.print(
        f"MLflow run {info['run_id']} at {info['tracking_uri']} "
        f"(open it with: mlflow ui --backend-store-uri {info['tracking_uri']})"
    )
    if info["version"]:
        console.print(f"registered {register} version {info['version']} (alias challenger)")


def _print_result(res: Any) -> None:
    print_split(res.split_summary)
    for note in res.notes:
        console.print(f"[dim]note: {note}[/]")
    print_comparison(res.report)
    print_subsets(res.report)
    spread = res.report.origin_spread()
    if len(spread):
        console.print(
            f"rolling-origin backtest ({res.report.origins['origin'].nunique()} origins), "
            "LightGBM AUC "
            + ", ".join(
                f"{stat} {spread.loc[('lightgbm', stat), 'auc']:.3f}"
                for stat in ("mean", "sd", "min", "max")
            )
        )


@app.command("train-flat")
def train_flat(
    table: Annotated[
        Path, typer.Option(help="One row per lead with a label column (CSV/Parquet).")
    ],
    label: Annotated[str, typer.Option(help="Label column (converted or not).")],
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    id_column: Annotated[str | None, typer.Option("--id", help="Lead id column.")] = None,
    time_column: Annotated[str | None, typer.Option("--time", help="Time column.")] = None,
    positive: Annotated[str | None, typer.Option(help="Label value meaning converted.")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Column that must not be a feature (repeatable).")
    ] = None,
    na_value: Annotated[
        list[str] | None, typer.Option(help="Text meaning 'not answered' (repeatable).")
    ] = None,
    split: Annotated[str, typer.Option(help="time, order (row order is time) or random.")] = "time",
    rules: Annotated[Path | None, typer.Option(help="Scorecard YAML.")] = None,
    config: Annotated[Path | None, typer.Option(help="TrainConfig YAML.")] = None,
    sep: Annotated[str | None, typer.Option(help="CSV separator (default: sniffed).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap resamples for intervals.")] = None,
) -> None:
    """Flat mode: train and compare on one row per lead (a CRM export with a label)."""
    from leadml.modeling import train_flat as train_flat_model

    try:
        df = pd.read_csv(table, sep=sep) if sep is not None else read_flat(table)
        res = train_flat_model(
            df,
            label=label,
            id_column=id_column,
            time_column=time_column,
            positive=positive,
            exclude=exclude or [],
            na_values=na_value or [],
            split=split,
            config=config,
            **_given(rules=rules, seed=seed, n_boot=n_boot),
        )
        _print_result(res)
        res.model.save(out)
        paths = res.report.write(out / "report")
        console.print(f"model saved to {out}; report: {paths['html']}")
    except LeadmlError as exc:
        _fail(exc)


def read_flat(path: Path) -> pd.DataFrame:
    """Read a flat table (CSV with a sniffed separator, or Parquet)."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=None, engine="python")


@app.command()
def score(
    model: Annotated[
        str,
        typer.Option(help="Model directory, or models:/NAME@champion from the MLflow registry."),
    ],
    leads: Annotated[Path, typer.Option(help="Leads table.")],
    out: Annotated[Path, typer.Option(help="Output scores (.csv or .parquet).")],
    events: Annotated[Path | None, typer.Option(help="Events table.")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Score every lead at this time (UTC if no zone).")
    ] = None,
    cutoffs: Annotated[Path | None, typer.Option(help="lead_id, as_of rows to score.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column mapping YAML.")] = None,
    drop_unknown_leads: Annotated[
        bool, typer.Option(help="Drop events of unknown leads (reported).")
    ] = False,
    reasons: Annotated[int, typer.Option(help="Reasons per direction (0: none).")] = 3,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Score leads with a saved model: one row per (lead, as_of), in the order requested.

    Every output row records the model name and version that produced it."""
    from leadml.io import load_tables, write_table
    from leadml.modeling import LeadScoringModel

    try:
        if model.startswith("models:/"):
            from leadml.tracking import load_registered

            m, name, version = load_registered(model, tracking_uri=tracking_uri)
        else:
            m = LeadScoringModel.load(Path(model))
            name, version = (
                str(Path(model).resolve()),
                f"trained {m.metadata.get('trained_at', '?')}",
            )
        tables = load_tables(leads=leads, events=events, cutoffs=cutoffs, mapping=mapping)
        scores = m.score(
            tables["leads"],
            tables.get("events"),
            as_of=as_of,
            cutoffs=tables.get("cutoffs"),
            unknown_leads="drop" if drop_unknown_leads else "error",
            reasons=reasons,
        )
        scores["model_name"] = name
        scores["model_version"] = version
        write_table(scores, out)
        print_scores(
            scores[
                [c for c in scores.columns if not c.startswith(("reason", "scorecard_", "model_"))]
            ]
        )
        console.print(f"wrote {len(scores):,} scores to {out}")
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Model directory.")],
    leads: Annotated[Path, typer.Option(help="Leads table.")],
    events: Annotated[Path, typer.Option(help="Events table.")],
    conversions: Annotated[Path, typer.Option(help="Conversions table.")],
    out: Annotated[Path, typer.Option(help="Report directory to write.")],
    every: Annotated[str | None, typer.Option(help="Cut-off schedule, e.g. 7d.")] = None,
    cutoffs: Annotated[Path | None, typer.Option(help="Explicit cut-offs.")] = None,
    start: Annotated[str | None, typer.Option(help="First scheduled cut-off.")] = None,
    max_age: Annotated[str | None, typer.Option(help="Only leads up to this age.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="Column mapping YAML.")] = None,
    in_sample: Annotated[
        bool,
        typer.Option(help="Also evaluate the model's training rows (figures labelled in-sample)."),
    ] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    mlflow: Annotated[bool, typer.Option(help="Log the evaluation to MLflow.")] = True,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "leadml",
) -> None:
    """Evaluate a saved model (LightGBM, logistic, rules) on labelled data after its training
    window (--in-sample to include its training rows); write a report."""
    from leadml.io import load_tables
    from leadml.modeling import LeadScoringModel, evaluate_model

    try:
        m = LeadScoringModel.load(model)
        tables = load_tables(
            leads=leads, events=events, conversions=conversions, cutoffs=cutoffs, mapping=mapping
        )
        rep = evaluate_model(
            m,
            tables["leads"],
            tables["events"],
            tables["conversions"],
            every=every,
            cutoffs=tables.get("cutoffs"),
            start=start,
            max_age=max_age,
            in_sample=in_sample,
            n_boot=n_boot,
        )
        print_comparison(rep, title=rep.info.get("title", "saved model on labelled data"))
        paths = rep.write(out)
        console.print(f"report: {paths['html']}")
        if mlflow:
            from leadml.tracking import log_evaluation

            info = log_evaluation(
                rep,
                model_ref=str(model),
                tracking_uri=tracking_uri,
                experiment=experiment,
                params={"schedule": every, "start": start, "max_age": max_age},
            )
            console.print(f"MLflow run {info['run_id']} at {info['tracking_uri']}")
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option(help="Version to make champion.")],
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Move the champion alias to a version (the old champion becomes previous_champion)."""
    from leadml.tracking import promote as do_promote

    try:
        r = do_promote(name, version, tracking_uri=tracking_uri)
        console.print(
            f"{name}: champion -> version {r['champion']} (previous_champion: {r['previous_champion']})"
        )
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Restore previous_champion as champion."""
    from leadml.tracking import rollback as do_rollback

    try:
        r = do_rollback(name, tracking_uri=tracking_uri)
        console.print(
            f"{name}: champion -> version {r['champion']} (previous_champion: {r['previous_champion']})"
        )
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def thresholds(
    scores: Annotated[Path, typer.Option(help="Recent scoring output (CSV/Parquet).")],
    capacity: Annotated[int, typer.Option(help="Leads sales can work per period.")],
    per: Annotated[str, typer.Option(help="day, week or month.")] = "week",
) -> None:
    """Pick the score cut from the recent score distribution for a sales capacity."""
    from leadml.scoring import capacity_threshold

    try:
        df = read_flat(scores)
        r = capacity_threshold(df, capacity=capacity, per=per)  # type: ignore[arg-type]
        table = Table(title=f"capacity {capacity} leads per {per}", show_header=False)
        table.add_row("p_convert threshold", f"{r['threshold']:.4f}")
        table.add_row(f"scored leads per {per}", f"{r['leads_per_period']:,.0f}")
        table.add_row(f"leads above per {per}", f"{r['leads_above_per_period']:,.0f}")
        table.add_row(
            f"expected conversions above per {per}",
            f"{r['expected_conversions_above_per_period']:.1f}",
        )
        table.add_row(
            f"expected conversions in all per {per}", f"{r['expected_conversions_per_period']:.1f}"
        )
        console.print(table)
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def rollup(
    scores: Annotated[Path, typer.Option(help="Scoring output (CSV/Parquet).")],
    leads: Annotated[Path, typer.Option(help="Leads table with account_id.")],
    out: Annotated[Path, typer.Option(help="Account table to write (.csv/.parquet).")],
) -> None:
    """Account roll-up: P(at least one lead converts), hot leads and the best lead per account."""
    from leadml.io import write_table
    from leadml.scoring import account_rollup

    try:
        acc = account_rollup(read_flat(scores), read_flat(leads))
        write_table(acc, out)
        console.print(
            f"wrote {len(acc):,} accounts to {out} "
            f"({acc.attrs.get('leads_without_account', 0):,} leads without an account left out)"
        )
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def rules(
    rules: Annotated[Path, typer.Argument(help="Scorecard YAML.")],
) -> None:
    """Check a scorecard YAML and print its points table."""
    from leadml.rules import PointsScorecard

    try:
        sc = PointsScorecard(rules=rules)
        t = sc.table()
        table = Table(title=f"scorecard {sc._config().name!r} ({rules})")
        for c in t.columns:
            table.add_column(c)
        for r in t.itertuples(index=False):
            table.add_row(*["" if (isinstance(v, float) and v != v) else f"{v}" for v in r])
        console.print(table)
    except LeadmlError as exc:
        _fail(exc)


@app.command()
def demo(
    n_leads: Annotated[int, typer.Option(help="Synthetic leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Where the model and report go.")] = Path("demo_output"),
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    mlflow: Annotated[bool, typer.Option(help="Log, register and score through MLflow.")] = True,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: a SQLite file in OUT).")
    ] = None,
) -> None:
    """The main job on an embedded synthetic CRM: training set, rules vs logistic vs LightGBM
    on the last window, the report, and a few scored leads."""
    from leadml.datasets import make_crm
    from leadml.modeling import train as train_model

    try:
        t0 = time.perf_counter()
        with console.status("generating a synthetic CRM..."):
            crm = make_crm(n_leads, seed=seed)
        console.print(
            f"synthetic CRM: {len(crm.leads):,} leads, {len(crm.events):,} events, "
            f"{len(crm.conversions):,} conversions, {crm.start:%Y-%m-%d} .. "
            f"{crm.observed_until:%Y-%m-%d} ({time.perf_counter() - t0:.1f} s)"
        )
        rules_path = DEMO_RULES if DEMO_RULES.exists() else None
        with console.status("training set (DuckDB) -> rules, logistic regression, LightGBM..."):
            res = train_model(
                crm.leads,
                crm.events,
                crm.conversions,
                horizon=crm.horizon,
                every=crm.every,
                start=crm.start,
                observed_until=crm.observed_until,
                rules=rules_path,
                seed=seed,
                n_boot=n_boot,
                reference=crm.truth.rename(columns={"p_true": "p"}),
            )
        _print_result(res)
        console.print(
            "[dim]reference = the generator's true probabilities given what a model can see "
            "(the best any model could do); the gap to it is the room left.[/]"
        )
        model_dir = res.model.save(out / "model")
        paths = res.report.write(out / "report")
        model = res.model
        if mlflow:
            from leadml.tracking import load_registered, log_training, promote

            out.mkdir(parents=True, exist_ok=True)
            uri = tracking_uri or f"sqlite:///{(out / 'mlflow.db').resolve()}"
            with console.status("logging to MLflow, registering, promoting to champion..."):
                info = log_training(res, tracking_uri=uri, register="leadml", rules_path=rules_path)
                promote("leadml", info["version"], tracking_uri=uri)
                model, _, _ = load_registered("models:/leadml@champion", tracking_uri=uri)
            console.print(
                f"MLflow: run {info['run_id']}, registered leadml version {info['version']} as "
                f"champion ({uri}; open it with: mlflow ui --backend-store-uri {uri})"
            )
        # score the leads that are open at the end of the data, as an application would
        now = crm.observed_until
        converted = set(crm.conversions["lead_id"])
        open_leads = crm.leads[~crm.leads["lead_id"].isin(converted)].tail(2000)
        their_events = crm.events[crm.events["lead_id"].isin(open_leads["lead_id"])]
        scores = model.score(open_leads, their_events, as_of=now, reasons=1)
        top = scores.sort_values("p_convert", ascending=False, kind="stable")
        print_scores(top.drop(columns=["reason_neg_1", "scorecard_reasons"]), n=8)
        console.print(
            f"model: {model_dir}  report: {paths['html']}  (total {time.perf_counter() - t0:.0f} s)"
        )
    except LeadmlError as exc:
        _fail(exc)


DEMO_RULES = Path(__file__).resolve().parent / "rules" / "synthetic_crm.yaml"


def main() -> None:
    """Entry point of the ``leadml`` console script."""
    import os

    # the command line prints its own progress: no MLflow download progress bars
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
