"""The ``leadml`` command. Thin: each subcommand parses, calls one public function, prints."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadml import _progress
from leadml.exceptions import (
    CalibrationWarning,
    ConfigError,
    LeadmlError,
    RowsExcludedWarning,
)
from leadml.schema import read_table

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="leadml: open, inspectable lead scoring."
)
console = Console(width=None if sys.stdout.isatty() else 150)


EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
"""Exit codes: 0 success; 2 bad input or configuration (the message names the table, column, ids
and the fix); 1 an internal error (a bug: the message says how to get the traceback); 130
interrupted (Ctrl-C); ``leadml audit`` exits 6 (``leadml.audit.EXIT_FINDINGS``) on findings."""


def _fail(exc: Exception) -> NoReturn:
    # the message as written: not read as markup (a "[lead_7]" would vanish) and not wrapped
    # (a pipe or a log keeps each message on one line; a terminal wraps it anyway)
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(code=EXIT_INPUT)


PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show leadml's own warnings (what was left out, fallbacks) as one worded line; the
    warnings of the libraries underneath are not for the user (LEADML_DEBUG=1 shows them)."""
    ours = issubclass(category, (RowsExcludedWarning, CalibrationWarning)) or filename.startswith(
        PACKAGE_DIR
    )
    if ours or os.environ.get("LEADML_DEBUG"):
        console.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True)


OPTIONS = {"quiet": False}


@app.callback()
def _options(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print no progress, only results and errors.")
    ] = False,
) -> None:
    """leadml: open, inspectable lead scoring."""
    OPTIONS["quiet"] = quiet


class _ProgressView(logging.Handler):
    """Shows the library's progress records: a live status line on a terminal, one line per
    stage (with the elapsed time) when the output is a log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.t0 = time.perf_counter()
        self.current = ""
        self.status = console.status("starting") if console.is_terminal else None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if getattr(record, "leadml_kind", "stage") == "step":
            if self.status is not None:
                done, total = record.leadml_done, record.leadml_total  # type: ignore[attr-defined]
                filled = int(20 * done / max(total, 1))
                bar = "#" * filled + "-" * (20 - filled)
                self.status.update(f"{self.current}: {msg} [{bar}] {done:,}/{total:,}")
            return
        self.current = msg
        if self.status is not None:
            self.status.update(f"{msg}...")
        else:
            console.print(f"[dim][{time.perf_counter() - self.t0:6.1f} s] {msg}[/]")

    def __enter__(self) -> _ProgressView:
        if self.status is not None:
            self.status.start()
        _progress.LOGGER.addHandler(self)
        _progress.LOGGER.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        _progress.LOGGER.removeHandler(self)
        if self.status is not None:
            self.status.stop()


def _is_interrupt(exc: BaseException) -> bool:
    """DuckDB turns Ctrl-C during a query into ``InterruptException`` or, from a result fetch,
    ``RuntimeError('Query interrupted')``; look through the exception chain for either."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "InterruptException" or isinstance(seen, KeyboardInterrupt):
            return True
        if isinstance(seen, RuntimeError) and "query interrupted" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def command(
    name: str | None = None, *, group: typer.Typer | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a subcommand (of ``group``, default the top level) with the one error handler
    every command shares."""

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("default")
                    warnings.showwarning = _show_warning
                    # MLflow configures its loggers at import (INFO unless MLFLOW_LOGGING_LEVEL says
                    # otherwise): the environment covers an import that happens inside the command,
                    # setLevel one that already happened. A user's own MLFLOW_LOGGING_LEVEL wins.
                    level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING").upper()
                    if level in logging.getLevelNamesMapping():
                        logging.getLogger("mlflow").setLevel(level)
                    if OPTIONS["quiet"]:
                        fn(*args, **kwargs)
                    else:
                        with _ProgressView():
                            fn(*args, **kwargs)
            except LeadmlError as exc:
                _fail(exc)
            except (typer.Exit, typer.Abort, click.exceptions.ClickException):
                raise
            except KeyboardInterrupt:
                console.print("[bold red]interrupted[/]")
                raise typer.Exit(code=EXIT_INTERRUPTED) from None
            except Exception as exc:
                if _is_interrupt(exc):  # DuckDB's, on Ctrl-C in a query
                    console.print("[bold red]interrupted[/]")
                    raise typer.Exit(code=EXIT_INTERRUPTED) from None
                if os.environ.get("LEADML_DEBUG"):
                    raise
                console.print(
                    f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
                    "This is a bug in leadml, not in your data. Rerun with LEADML_DEBUG=1 for the "
                    "traceback, and report it.",
                    soft_wrap=True,
                )
                raise typer.Exit(code=EXIT_INTERNAL) from None

        return (group or app).command(name)(run)

    return decorate


# the options several commands share, declared once
Leads = Annotated[Path, typer.Option(help="Leads table (CSV or Parquet).")]
Events = Annotated[
    Path | None, typer.Option(help="Events table (CSV, Parquet, or a folder of Parquet parts).")
]
Conversions = Annotated[Path | None, typer.Option(help="Conversions table.")]
Cutoffs = Annotated[Path | None, typer.Option(help="Explicit cut-offs (lead_id, as_of).")]
Every = Annotated[str | None, typer.Option(help="Cut-off schedule, e.g. 7d.")]
MappingFile = Annotated[Path | None, typer.Option(help="Column mapping YAML.")]
TrackingUri = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)."),
]


@command()
def build(
    leads: Leads,
    out: Annotated[Path, typer.Option(help="Output training set (.parquet or .csv).")],
    horizon: Annotated[str, typer.Option(help="Label horizon, e.g. 30d.")] = "30d",
    events: Events = None,
    conversions: Conversions = None,
    cutoffs: Cutoffs = None,
    every: Every = None,
    mapping: MappingFile = None,
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
    time_format: TimeFormat = None,
    engine: Annotated[
        str,
        typer.Option(
            help="auto, duckdb, numpy or spark. spark: the events (a Parquet file or folder, or "
            "a Spark table name) are read and joined on Spark ($LEADML_SPARK_MASTER, default "
            "local[2]); the output must be .parquet."
        ),
    ] = "auto",
) -> None:
    """Build a point-in-time training set: one row per (lead, cut-off) with features, label, censored."""
    from leadml.features import ENGINES, FeatureSpec, build_training_set
    from leadml.io import check_output, load_tables, write_table

    if engine not in ENGINES:
        raise ConfigError(f"--engine: unknown engine {engine!r}; use one of {list(ENGINES)}.")
    check_output(out)
    if engine == "spark":
        if partitions is not None:
            raise ConfigError(
                "--partitions is for the DuckDB engine; Spark distributes the event log itself. "
                "Fix: leave out --partitions with --engine spark."
            )
        if time_format is not None:
            raise ConfigError(
                "--time-format is not read with --engine spark (Spark reads timestamp columns and "
                "ISO 8601 text). Fix: store the event times as timestamps, or leave it out."
            )
        if out.suffix.lower() != ".parquet":
            raise ConfigError(f"--engine spark writes Parquet: {out} must end in .parquet.")
    if partitions is not None or engine == "spark":
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
            engine=engine,
        )
        return
    t0 = time.perf_counter()
    tables = load_tables(
        leads=leads,
        events=events,
        conversions=conversions,
        cutoffs=cutoffs,
        mapping=mapping,
        time_format=time_format,
    )
    spec = FeatureSpec()
    _progress.stage(f"building features ({'DuckDB' if engine == 'auto' else engine})")
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
        engine=engine,  # type: ignore[arg-type]
    )
    write_table(ts, out)
    if spec_out is not None:
        spec.to_json(spec_out)
    print_summary(ts, spec.feature_names_, time.perf_counter() - t0)
    console.print(f"wrote {out}")


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
    partitions: int | None,
    max_age: str | None,
    engine: str,
) -> None:
    from leadml.features import FeatureSpec, write_training_set
    from leadml.schema import ColumnMapping

    if events is None:
        raise ConfigError(
            f"build {'--engine spark' if engine == 'spark' else '--partitions'} needs --events."
        )
    assert events is not None
    spec = FeatureSpec()
    seen: set[str] = set()

    def tick(step: str, done: int, total: int) -> None:
        if step not in seen:
            seen.add(step)
            _progress.stage(step)
        _progress.step(step, done, total)

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
        engine="spark" if engine == "spark" else "duckdb",
        progress=tick,
    )
    if spec_out is not None:
        spec.to_json(spec_out)
    spark = engine == "spark"
    table = Table(
        title=f"training set (built {'on Spark' if spark else 'in parts'})", show_header=False
    )
    table.add_row("rows (lead x cut-off)", f"{res.rows:,}")
    if not spark:
        table.add_row(
            "parts",
            f"{res.partitions} (rows per part {min(res.rows_per_part):,}.."
            f"{max(res.rows_per_part):,})",
        )
    table.add_row("events", f"{res.events:,}")
    table.add_row("censored rows (label window incomplete)", f"{res.censored:,}")
    table.add_row("label rate (uncensored)", f"{res.label_rate:.2%}")
    table.add_row("features", f"{len(res.feature_names)}")
    table.add_row("time", f"{res.seconds:.1f} s")
    console.print(table)
    console.print(f"wrote {out}")


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


def _share(v: float) -> str:
    """A share of rows: '<1%' rather than '0%' for a band that has rows."""
    return "<1%" if 0 < v < 0.005 else f"{v:.0%}"


def print_comparison(report: Any, title: str = "rules vs model (same rows)") -> None:
    """Print the comparison table of a :class:`ComparisonReport`."""
    from leadml.evaluation import LABELS

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
        f"{'rows' if info.get('in_sample') is not None else 'test rows'}: {info.get('rows', 0):,} "
        f"({info.get('leads') or 0:,} leads), conversions: "
        f"{info.get('conversions', 0):,} ({info.get('label_rate', float('nan')):.2%})"
        + (f", window {info['window']}" if info.get("window") else "")
    )
    if len(report.by_band):
        bt = Table(title="conversion rate by band")
        bt.add_column("model")
        seen = list(dict.fromkeys(report.by_band["band"]))
        order = [b for b in report.info.get("bands", []) if b in seen]
        bands = order + [b for b in seen if b not in order]
        for b in bands:
            bt.add_column(str(b), justify="right")
        for model, g in report.by_band.groupby("model", sort=False):
            g = g.set_index("band")
            bt.add_row(
                str(model),
                *[
                    f"{g.loc[b, 'conversion_rate']:.1%} ({_share(g.loc[b, 'share'])} of rows)"
                    if b in g.index
                    else "-"
                    for b in bands
                ],
            )
        console.print(bt)


def print_figures(paths: Mapping[str, Path]) -> None:
    """The pictures written (``figure_<name>`` keys of a report's paths, or name -> path)."""
    figs = {k.removeprefix("figure_"): p for k, p in paths.items() if p.suffix == ".png"}
    if not figs:
        return
    folders = {p.parent for p in figs.values()}
    where = f" in {next(iter(folders))}" if len(folders) == 1 else ""
    names = ", ".join(p.name if where else str(p) for p in figs.values())
    console.print(f"pictures{where}: {names}")


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


def print_split(
    summary: pd.DataFrame,
    title: str = "rows used (backtest at an earlier origin, production fit on all)",
) -> None:
    """Print which rows were used for what, and which were left out and why."""
    table = Table(title=title)
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


@command()
def train(
    leads: Leads,
    out: Annotated[Path, typer.Option(help="Model directory to write.")],
    events: Events = None,
    conversions: Conversions = None,
    cutoffs: Cutoffs = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TrainConfig YAML (horizon, schedule, backtest, calibration, ...)."),
    ] = None,
    every: Every = None,
    horizon: Annotated[str | None, typer.Option(help="Label horizon (default 30d).")] = None,
    max_age: Annotated[str | None, typer.Option(help="Only score leads up to this age.")] = None,
    start: Annotated[str | None, typer.Option(help="First scheduled cut-off.")] = None,
    mapping: MappingFile = None,
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
    tracking_uri: TrackingUri = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "leadml",
    register: Annotated[
        str | None, typer.Option(help="Register the model under this name (alias challenger).")
    ] = None,
    time_format: TimeFormat = None,
    overwrite: Overwrite = False,
    no_events: Annotated[
        bool, typer.Option(help="Train on the profile columns only (no --events), knowingly.")
    ] = False,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Profile column (e.g. lead_source): a model per segment value where the backtest "
            "says it beats the global model, the global model elsewhere."
        ),
    ] = None,
) -> None:
    """Backtest rules, logistic regression and LightGBM at an earlier origin; fit the same
    procedure on all labelled history; print the comparison; save the production model."""
    from leadml.io import load_tables
    from leadml.modeling import LeadScoringModel
    from leadml.modeling import train as train_model

    t0 = time.perf_counter()
    if (events is None) != no_events:
        raise ConfigError(
            "train: pass --events with the behavioural events, or --no-events to train on the "
            "profile columns only (not both)."
        )
    LeadScoringModel.check_destination(out, overwrite=overwrite)  # before the work, not after it
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
        segment=segment,
    )
    tables = load_tables(
        leads=leads,
        events=events,
        conversions=conversions,
        cutoffs=cutoffs,
        mapping=mapping,
        time_format=time_format,
    )
    res = train_model(
        tables["leads"],
        tables.get("events"),
        tables.get("conversions"),
        config=config,
        cutoffs=tables.get("cutoffs"),
        **options,
    )
    _print_result(res)
    # everything local first; MLflow (and the registry) only once the model is safely on disk
    res.model.save(out, overwrite=overwrite)
    paths = res.report.write(report if report is not None else out / "report")
    console.print(f"model saved to {out}; report: {paths['html']}")
    print_figures(paths)
    if mlflow or register:
        _log_mlflow(res, tracking_uri, experiment, register, rules)
    console.print(f"done in {time.perf_counter() - t0:.1f} s")


TimeFormat = Annotated[
    list[str] | None,
    typer.Option(
        help="Time format: ISO8601, a strftime pattern such as '%d/%m/%Y', or epoch_s / epoch_ms "
        "/ epoch_us / epoch_ns; for one column with TABLE.COLUMN=FORMAT, e.g. "
        "'leads.created_at=%d/%m/%Y' (repeatable). Default: detected per column (ambiguous "
        "day/month orders are an error). Also 'formats' in the --mapping YAML."
    ),
]
Overwrite = Annotated[
    bool, typer.Option(help="Replace a leadml model already in --out (nothing else is deleted).")
]


def _given(**options: Any) -> dict[str, Any]:
    """The options actually given on the command line (they override the config file)."""
    return {k: v for k, v in options.items() if v is not None}


def _log_mlflow(
    res: Any, tracking_uri: str | None, experiment: str, register: str | None, rules: Path | None
) -> None:
    from leadml.tracking import log_training

    _progress.stage("logging to MLflow")
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
    print_segments(res.report)
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


def print_segments(report: Any) -> None:
    """Per-segment models: global vs segment model on each segment's test rows, and the choice."""
    seg = report.segments
    if not len(seg):
        return
    table = Table(title="per-segment models (backtest, same test rows per segment)")
    cols = ["segment", "test rows", "conv", "AUC global", "AUC seg", "log loss global",
            "log loss seg", "ECE global", "ECE seg", "choice", "why"]  # fmt: skip
    for c in cols:
        table.add_column(c, justify="left" if c in ("segment", "choice", "why") else "right")

    def f(v: Any, d: int = 3) -> str:
        return "-" if v is None or pd.isna(v) else f"{float(v):.{d}f}"

    for r in seg.to_dict("records"):
        table.add_row(
            str(r["segment"]), f"{int(r['test_rows']):,}", f"{int(r['test_conversions']):,}",
            f(r["global_auc"]), f(r["segment_auc"]), f(r["global_log_loss"], 4),
            f(r["segment_log_loss"], 4), f(r["global_ece"], 4), f(r["segment_ece"], 4),
            str(r["choice"]), str(r["why"]),
        )  # fmt: skip
    console.print(table)
    for r in report.segments_routed.to_dict("records"):
        console.print(
            f"all test rows, {r['model']}: AUC {f(r['auc'])}, log loss {f(r['log_loss'], 4)}, "
            f"ECE {f(r['ece'], 4)} ({int(r['rows']):,} rows, {int(r['segment_models'])} segment "
            "models)"
        )


@command("train-flat")
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
    overwrite: Overwrite = False,
    segment: Annotated[
        str | None, typer.Option(help="Column: a model per segment value where it wins.")
    ] = None,
    mlflow: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    tracking_uri: TrackingUri = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "leadml",
    register: Annotated[
        str | None, typer.Option(help="Register the model under this name (alias challenger).")
    ] = None,
) -> None:
    """Flat mode: train and compare on one row per lead (a CRM export with a label).

    Logged to MLflow like ``train``; the registered model scores rows of ``lead_id`` and the
    profile columns (no ``created_at``, ``as_of`` or events)."""
    from leadml.modeling import LeadScoringModel
    from leadml.modeling import train_flat as train_flat_model

    LeadScoringModel.check_destination(out, overwrite=overwrite)
    df = read_table(table, table="table", sep=sep)
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
        **_given(rules=rules, seed=seed, n_boot=n_boot, segment=segment),
    )
    _print_result(res)
    res.model.save(out, overwrite=overwrite)
    paths = res.report.write(out / "report")
    console.print(f"model saved to {out}; report: {paths['html']}")
    print_figures(paths)
    if mlflow or register:
        _log_mlflow(res, tracking_uri, experiment, register, rules)


@command()
def score(
    model: Annotated[
        str,
        typer.Option(help="Model directory, or models:/NAME@champion from the MLflow registry."),
    ],
    leads: Leads,
    out: Annotated[Path, typer.Option(help="Output scores (.csv or .parquet).")],
    events: Events = None,
    as_of: Annotated[
        str | None, typer.Option(help="Score every lead at this time (UTC if no zone).")
    ] = None,
    cutoffs: Annotated[Path | None, typer.Option(help="lead_id, as_of rows to score.")] = None,
    mapping: MappingFile = None,
    drop_unknown_leads: Annotated[
        bool, typer.Option(help="Drop events of unknown leads (reported).")
    ] = False,
    reasons: Annotated[int, typer.Option(help="Reasons per direction (0: none).")] = 3,
    tracking_uri: TrackingUri = None,
    time_format: TimeFormat = None,
) -> None:
    """Score leads with a saved model: one row per (lead, as_of), in the order requested.

    Every output row records the model name and version that produced it."""
    from leadml.io import check_output, load_tables, write_table
    from leadml.tracking import load_model, model_identity

    check_output(out)
    m = load_model(model, tracking_uri=tracking_uri)
    tables = load_tables(
        leads=leads, events=events, cutoffs=cutoffs, mapping=mapping, time_format=time_format
    )
    scores = m.score(
        tables["leads"],
        tables.get("events"),
        as_of=as_of,
        cutoffs=tables.get("cutoffs"),
        unknown_leads="drop" if drop_unknown_leads else "error",
        reasons=reasons,
    )
    scores["model_name"], scores["model_version"] = model_identity(m)
    write_table(scores, out)
    if not len(scores):
        console.print(f"no leads to score: wrote an empty table with the score columns to {out}")
        return
    print_scores(
        scores[[c for c in scores.columns if not c.startswith(("reason", "scorecard_", "model_"))]]
    )
    console.print(f"wrote {len(scores):,} scores to {out}")


@command("score-job")
def score_job(
    config: Annotated[Path, typer.Option(help="Scoring job YAML (pipelines/score_daily.yaml).")],
) -> None:
    """The scheduled scoring run: the champion scores the leads open at as_of; one file per run
    (with the model name and version on every row), which leadml monitor later judges."""
    from leadml.jobs import score_job as run_score_job

    r = run_score_job(config)
    for why, n in r.left_out.items():
        console.print(f"[dim]left out: {n:,} leads {why}[/]")
    if len(r.scores):
        print_scores(
            r.scores[
                [
                    c
                    for c in r.scores.columns
                    if not c.startswith(("reason", "scorecard_", "model_"))
                ]
            ]
        )
    console.print(f"wrote {len(r.scores):,} scores at {r.as_of} to {r.path}")


@command()
def evaluate(
    model: Annotated[
        str,
        typer.Option(help="Model directory, or models:/NAME@champion from the MLflow registry."),
    ],
    leads: Leads,
    events: Annotated[Path, typer.Option(help="Events table.")],
    conversions: Annotated[Path, typer.Option(help="Conversions table.")],
    out: Annotated[Path, typer.Option(help="Report directory to write.")],
    every: Every = None,
    cutoffs: Cutoffs = None,
    start: Annotated[str | None, typer.Option(help="First scheduled cut-off.")] = None,
    max_age: Annotated[str | None, typer.Option(help="Only leads up to this age.")] = None,
    mapping: MappingFile = None,
    in_sample: Annotated[
        bool,
        typer.Option(help="Also evaluate the model's training rows (figures labelled in-sample)."),
    ] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    mlflow: Annotated[bool, typer.Option(help="Log the evaluation to MLflow.")] = True,
    tracking_uri: TrackingUri = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "leadml",
    time_format: TimeFormat = None,
) -> None:
    """Evaluate a saved model (LightGBM, logistic, rules) on labelled data after its training
    window (--in-sample to include its training rows); write a report."""
    from leadml.io import load_tables
    from leadml.modeling import evaluate_model
    from leadml.tracking import load_model

    m = load_model(model, tracking_uri=tracking_uri)
    tables = load_tables(
        leads=leads,
        events=events,
        conversions=conversions,
        cutoffs=cutoffs,
        mapping=mapping,
        time_format=time_format,
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
    print_split(rep.data_summary, title="rows evaluated and left out")
    print_comparison(rep, title=rep.info.get("title", "saved model on labelled data"))
    paths = rep.write(out)
    console.print(f"report: {paths['html']}")
    print_figures(paths)
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


@command()
def audit(
    table: Annotated[
        Path | None, typer.Option(help="Flat mode: one row per lead with a label column.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="Flat mode: the label column.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Flat mode: the lead id column.")] = None,
    time_column: Annotated[str | None, typer.Option(help="Flat mode: a time column.")] = None,
    positive: Annotated[str | None, typer.Option(help="Label value meaning converted.")] = None,
    na_value: Annotated[
        list[str] | None, typer.Option(help="Text meaning 'not answered' (repeatable).")
    ] = None,
    sep: Annotated[str | None, typer.Option(help="CSV separator (default: sniffed).")] = None,
    leads: Annotated[Path | None, typer.Option(help="Event mode: the leads table.")] = None,
    events: Events = None,
    conversions: Conversions = None,
    updated_at: Annotated[
        str | None, typer.Option(help="Event mode: leads column with the last update time.")
    ] = None,
    window_days: Annotated[
        float, typer.Option(help="Event mode: days before conversion to inspect.")
    ] = 7,
    mapping: MappingFile = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Column not to audit (repeatable).")
    ] = None,
    fail_on: Annotated[
        str, typer.Option(help="Exit 6 on a finding this bad: severe, warning or never.")
    ] = "severe",
    out: Annotated[
        Path | None, typer.Option(help="Write the findings (.csv, .md or .json).")
    ] = None,
    time_format: TimeFormat = None,
) -> None:
    """Audit a table (--table, --label) or the event-mode tables (--leads, --events,
    --conversions) for leakage; exit 6 when a finding is at least as bad as --fail-on."""
    from leadml.audit import EXIT_FINDINGS, audit_events, audit_flat

    if fail_on not in ("severe", "warning", "never"):
        raise ConfigError(f"audit: --fail-on must be severe, warning or never, got {fail_on!r}.")
    if out is not None and out.suffix.lower() not in (".csv", ".md", ".json"):
        raise ConfigError(f"audit: --out must end in .csv, .md or .json, got {out.name!r}.")
    if (table is None) == (leads is None):
        raise ConfigError(
            "audit: pass either --table with --label (flat mode) or --leads, --events and "
            "--conversions (event mode)."
        )
    if table is not None:
        if label is None:
            raise ConfigError("audit: flat mode needs --label (the converted-or-not column).")
        rep = audit_flat(
            read_table(table, table="table", sep=sep),
            label=label,
            id_column=id_column,
            time_column=time_column,
            positive=positive,
            na_values=na_value or [],
            exclude=exclude or [],
        )
    else:
        if events is None or conversions is None:
            raise ConfigError("audit: event mode needs --events and --conversions with --leads.")
        from leadml.io import load_tables

        tables = load_tables(
            leads=leads,
            events=events,
            conversions=conversions,
            mapping=mapping,
            time_format=time_format,
        )
        rep = audit_events(
            tables["leads"],
            tables["events"],
            tables["conversions"],
            updated_at=updated_at,
            window_days=window_days,
            exclude=exclude or [],
        )
    colour = {"severe": "bold red", "warning": "yellow", "info": "dim"}
    view = Table(title=f"leakage audit ({rep.info['mode']} mode): {len(rep.findings)} finding(s)")
    for name in ("severity", "check", "column", "evidence", "fix"):
        view.add_column(name, overflow="fold")
    for r in rep.findings.to_dict("records"):
        sev = r["severity"]
        view.add_row(
            f"[{colour[sev]}]{sev}[/]", r["check"], str(r["column"]), r["evidence"], r["fix"]
        )
    console.print(view if len(rep.findings) else "leakage audit: no findings")
    if out is not None:
        console.print(f"findings written to {rep.write(out)}")
    code = rep.exit_code(fail_on)
    if code:
        console.print(f"[bold red]{rep.worst} finding(s): exit {EXIT_FINDINGS}[/]")
        raise typer.Exit(code=code)


@command()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option(help="Version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the alias history).")] = "by hand",
    tracking_uri: TrackingUri = None,
) -> None:
    """Move the champion alias to a version by hand (the old champion becomes
    previous_champion); recorded in the alias history (leadml history NAME)."""
    from leadml.tracking import promote as do_promote

    r = do_promote(name, version, tracking_uri=tracking_uri, reason=reason)
    console.print(
        f"{name}: champion -> version {r['champion']} (previous_champion: {r['previous_champion']})"
    )


@command()
def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the alias history).")] = "by hand",
    tracking_uri: TrackingUri = None,
) -> None:
    """Make the version that was champion before the current one champion again (from leadml's
    alias history); recorded in the history."""
    from leadml.tracking import rollback as do_rollback

    r = do_rollback(name, tracking_uri=tracking_uri, reason=reason)
    console.print(
        f"{name}: champion -> version {r['champion']} (previous_champion: {r['previous_champion']})"
    )


@command()
def history(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    tracking_uri: TrackingUri = None,
    all_moves: Annotated[
        bool, typer.Option("--all", help="Every alias move, not only the champion's.")
    ] = False,
) -> None:
    """Which version was champion from when to when, why, and by which run (MLflow keeps no
    history of aliases; leadml records every move it makes)."""
    from leadml.tracking import alias_history, champion_periods, registry_client

    client = registry_client(tracking_uri)
    if all_moves:
        h = alias_history(client, name)
        table = Table(title=f"{name}: alias moves")
        for c in ("time", "alias", "version", "replaced", "action", "reason", "run_id", "actor"):
            table.add_column(c)
        for e in h.to_dict("records"):
            table.add_row(
                f"{pd.Timestamp(e['time']):%Y-%m-%d %H:%M:%S}",
                *[_text(e[k]) for k in ("alias", "version", "replaced", "action", "reason")],
                *[_text(e[k]) for k in ("run_id", "actor")],
            )
        console.print(table)
        return
    p = champion_periods(client, name)
    table = Table(title=f"{name}: champion history")
    for c in ("version", "since", "until", "action", "reason", "run"):
        table.add_column(c)
    for e in p.to_dict("records"):
        until = "now" if pd.isna(e["until"]) else f"{pd.Timestamp(e['until']):%Y-%m-%d %H:%M:%S}"
        table.add_row(
            _text(e["version"]),
            f"{pd.Timestamp(e['since']):%Y-%m-%d %H:%M:%S}",
            until,
            *[_text(e[k]) for k in ("action", "reason", "run_id")],
        )
    console.print(table if len(p) else f"{name}: no champion moves recorded yet")


def _text(v: Any) -> str:
    """A table cell: empty for a missing value."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


@command()
def retrain(
    config: Annotated[Path, typer.Option(help="Retraining job YAML (pipelines/retrain.yaml).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and report; register and move nothing.")
    ] = False,
) -> None:
    """Retrain on fresh data; promote the challenger to champion only if the gate passes.

    Exit codes: 0 promoted (or the rules scorecard registered on a cold start; with --dry-run:
    would promote); 3 kept, with the reason; 4 another run holds the lock; 2 failed on bad input,
    configuration or an unreachable registry (aliases untouched); 1 internal error."""
    from leadml.jobs import EXIT_LOCKED, LockHeldError
    from leadml.jobs import retrain as run_retrain

    try:
        r = run_retrain(config, dry_run=dry_run)
    except LockHeldError as exc:
        console.print(f"[bold yellow]skipped:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=EXIT_LOCKED) from None
    _print_job(r)


@command()
def recalibrate(
    config: Annotated[Path, typer.Option(help="Retraining job YAML (data, registry, gate).")],
    window: Annotated[str, typer.Option(help="Recent labelled window to refit on.")] = "90d",
    slope: Annotated[
        bool, typer.Option("--slope/--intercept-only", help="Refit slope and intercept.")
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and report; register and move nothing.")
    ] = False,
) -> None:
    """Refit only the champion's calibration on a recent labelled window; register the new
    version and make it champion through the same gate as leadml retrain (same exit codes)."""
    from leadml.jobs import EXIT_LOCKED, LockHeldError
    from leadml.jobs import recalibrate as run_recalibrate

    try:
        r = run_recalibrate(config, window=window, slope=slope, dry_run=dry_run)
    except LockHeldError as exc:
        console.print(f"[bold yellow]skipped:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=EXIT_LOCKED) from None
    _print_job(r)


def _print_job(r: Any) -> None:
    if r.gate is not None and len(r.gate.checks):
        print_gate(r.gate)
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]")
    colour = "green" if r.exit_code == 0 else "yellow"
    console.print(f"[bold {colour}]{r.decision}:[/] {r.reason}")
    if r.report_path is not None:
        console.print(
            f"gate report: {r.report_path}" + (f"; MLflow run {r.run_id}" if r.run_id else "")
        )
    console.print(f"done in {r.seconds:.0f} s")
    if r.exit_code:
        raise typer.Exit(code=r.exit_code)


@command()
def monitor(
    config: Annotated[Path, typer.Option(help="Monitoring job YAML (pipelines/monitor.yaml).")],
) -> None:
    """Judge past scores against real outcomes per cohort, and their drift before the labels
    arrive; write tables, plots and an HTML page. Exit code 5 when an alert fires (0: none)."""
    from leadml.jobs import monitor as run_monitor

    r = run_monitor(config)
    c = r.cohorts
    table = Table(title="cohorts (estimates where the label windows are still open)")
    cols = [
        ("cohort", "cohort"),
        ("rows", "rows"),
        ("conversions", "conv"),
        ("observed_rate", "observed"),
        ("predicted_rate", "predicted"),
        ("observed_expected", "O/E"),
        ("ece", "ECE"),
        ("auc", "AUC"),
        ("expected_auc", "AUC est."),
        ("psi_score", "PSI score"),
    ]
    cols = [(k, t) for k, t in cols if k in c.columns]
    for _, t in cols:
        table.add_column(t)
    for rec in c.to_dict("records"):
        cells = []
        for k, _ in cols:
            v = rec.get(k)
            if k == "cohort":
                cells.append(f"{pd.Timestamp(str(v)):%Y-%m-%d}")
            elif v is None or (isinstance(v, float) and v != v):
                cells.append("")
            elif k in ("rows", "conversions"):
                cells.append(f"{int(v):,}")
            else:
                cells.append(f"{v:.3f}")
        table.add_row(*cells)
    console.print(table)
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]")
    if len(r.trends):
        counts = r.trends["trend"].value_counts()
        console.print(
            "score trend over the last days: "
            + ", ".join(f"{k} {int(counts.get(k, 0)):,}" for k in ("rising", "steady", "falling"))
        )
    console.print(f"suggestion: {r.suggestion}")
    if len(r.alerts):
        for a in r.alerts.to_dict("records"):
            console.print(
                f"[bold red]alert[/] {pd.Timestamp(a['cohort']):%Y-%m-%d} {a['alert']}: {a['detail']}"
            )
    console.print(f"report: {r.out}/index.html" + (f"; MLflow run {r.run_id}" if r.run_id else ""))
    if r.exit_code:
        raise typer.Exit(code=r.exit_code)


@command()
def funnel(
    scores: Annotated[
        Path, typer.Option(help="Past scores (a file, or a folder of parts) leadml score wrote.")
    ],
    conversions: Annotated[Path, typer.Option(help="Conversions (lead_id, converted_at).")],
    stages: Annotated[
        Path | None, typer.Option(help="Stage history (lead_id, stage, entered_at).")
    ] = None,
    by: Annotated[str, typer.Option(help="Cohorts by week or month of as_of.")] = "week",
    horizon: Annotated[str, typer.Option(help="Conversion window of a score.")] = "30d",
    until: Annotated[
        str | None, typer.Option(help="Report date (default: the latest time in the inputs).")
    ] = None,
    group: Annotated[str, typer.Option(help="grade or band.")] = "grade",
    out: Annotated[
        Path | None, typer.Option(help="Write the tables (.csv; stages beside) or a .md page.")
    ] = None,
) -> None:
    """How are our leads moving: conversion by grade (or band) and by stage per scoring week or
    month; conversions after the report date, or after the horizon, never count."""
    from leadml.evaluation import funnel as run_funnel
    from leadml.jobs import read_scores

    if by not in ("week", "month"):
        raise ConfigError(f"funnel: --by must be week or month, got {by!r}.")
    if group not in ("grade", "band"):
        raise ConfigError(f"funnel: --group must be grade or band, got {group!r}.")
    st = read_table(stages, table="stages") if stages is not None else None
    rep = run_funnel(
        read_scores(scores),
        read_table(conversions, table="conversions"),
        stages=st,
        by=by,  # type: ignore[arg-type]
        horizon=horizon,
        until=until,
        group=group,
    )
    table = Table(title=f"conversion by {group} per {by} (known by {rep.info['until'][:10]})")
    cols = (by, group, "leads", "share", "converted", "still open", "rate", "so far",
            "converted before")  # fmt: skip
    for c in cols:
        table.add_column(c, justify="left" if c in (by, group) else "right")
    for r in rep.by_group.to_dict("records"):
        rate, so_far = r["conversion_rate"], r["converted_so_far"]
        table.add_row(
            f"{pd.Timestamp(r['cohort']):%Y-%m-%d}", str(r[group]), f"{int(r['leads']):,}",
            f"{r['share']:.1%}", f"{int(r['converted']):,}", f"{int(r['still_open']):,}",
            "-" if pd.isna(rate) else f"{rate:.1%}", "-" if pd.isna(so_far) else f"{so_far:.1%}",
            f"{int(r['converted_before']):,}",
        )  # fmt: skip
    console.print(table)
    info = rep.info
    console.print(
        f"{info['leads']:,} leads in {info['cohorts']} cohort(s); left out: "
        f"{info['converted_before']:,} score(s) of leads that had already converted, "
        f"{info['not_created']:,} scored before the lead was created."
    )
    if not len(rep.by_group):
        console.print(
            f"[yellow]no score on or before {info['until'][:19]}: nothing to report. Fix: a "
            "later --until, or scores from that period.[/]"
        )
    if len(rep.by_stage):
        t2 = Table(title=f"stages reached within the horizon, per {by}")
        for c in (by, "stage", "leads", "reached", "share", "step rate"):
            t2.add_column(c, justify="left" if c in (by, "stage") else "right")
        for r in rep.by_stage.to_dict("records"):
            step = r["step_rate"]
            t2.add_row(
                f"{pd.Timestamp(r['cohort']):%Y-%m-%d}", str(r["stage"]), f"{int(r['leads']):,}",
                f"{int(r['reached']):,}", f"{r['reached_share']:.1%}",
                "-" if pd.isna(step) else f"{step:.1%}",
            )  # fmt: skip
        console.print(t2)
    if out is not None:
        console.print(f"written to {rep.write(out)}")


def print_gate(gate: Any) -> None:
    """The gate's checks as a table."""
    table = Table(title="promotion gate (champion vs challenger on the same frozen rows)")
    for c in ("check", "passed", "value", "threshold", "detail"):
        table.add_column(c, overflow="fold")
    for r in gate.checks.itertuples(index=False):
        mark = "n/a" if r.passed is None else ("[green]yes[/]" if r.passed else "[red]no[/]")
        value = (
            ""
            if r.value is None or (isinstance(r.value, float) and r.value != r.value)
            else (f"{r.value:.4f}" if isinstance(r.value, float) else str(r.value))
        )
        table.add_row(r.check, mark, value, str(r.threshold), str(r.detail))
    console.print(table)


@command()
def thresholds(
    scores: Annotated[Path, typer.Option(help="Recent scoring output (CSV/Parquet).")],
    capacity: Annotated[int, typer.Option(help="Leads sales can work per period.")],
    per: Annotated[str, typer.Option(help="day, week or month.")] = "week",
) -> None:
    """Pick the score cut from the recent score distribution for a sales capacity."""
    from leadml.scoring import capacity_threshold

    df = read_table(scores, table="scores")
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
    if r["not_open_rows_left_out"]:
        table.add_row("rows left out (lost, not yet created)", f"{r['not_open_rows_left_out']:,}")
    console.print(table)


@command()
def rollup(
    scores: Annotated[Path, typer.Option(help="Scoring output (CSV/Parquet).")],
    leads: Annotated[Path, typer.Option(help="Leads table with account_id.")],
    out: Annotated[Path, typer.Option(help="Account table to write (.csv/.parquet).")],
) -> None:
    """Account roll-up: P(at least one lead converts), hot leads and the best lead per account."""
    from leadml.io import write_table
    from leadml.scoring import account_rollup

    acc = account_rollup(read_table(scores, table="scores"), read_table(leads, table="leads"))
    write_table(acc, out)
    console.print(
        f"wrote {len(acc):,} accounts to {out} "
        f"({acc.attrs.get('leads_without_account', 0):,} leads without an account left out)"
    )


rules_app = typer.Typer(
    no_args_is_help=True, help="Points scorecards: show a YAML's points table, learn one from data."
)
app.add_typer(rules_app, name="rules")


def print_points_table(config: Any, title: str) -> None:
    """Print a scorecard's auditable points table."""
    from leadml.rules import PointsScorecard

    t = PointsScorecard(rules=config).table()
    table = Table(title=title)
    for c in t.columns:
        table.add_column(c)
    for r in t.itertuples(index=False):
        table.add_row(*["" if (isinstance(v, float) and v != v) else f"{v}" for v in r])
    console.print(table)


@command("show", group=rules_app)
def rules_show(
    rules: Annotated[Path, typer.Argument(help="Scorecard YAML.")],
) -> None:
    """Check a scorecard YAML and print its points table."""
    from leadml.rules import load_rules

    config = load_rules(rules)
    print_points_table(config, f"scorecard {config.name!r} ({rules})")


@command("learn", group=rules_app)
def rules_learn(
    leads: Leads,
    out: Annotated[Path, typer.Option(help="Scorecard YAML to write.")],
    events: Events = None,
    conversions: Conversions = None,
    cutoffs: Cutoffs = None,
    every: Every = None,
    horizon: Annotated[str, typer.Option(help="Label horizon, e.g. 30d.")] = "30d",
    pdo: Annotated[float, typer.Option(help="Points to double the odds.")] = 20.0,
    max_bins: Annotated[int, typer.Option(help="Bins per profile criterion at most.")] = 5,
    half_life: Annotated[
        list[float] | None,
        typer.Option(help="Candidate decay half-life in days (repeatable; default 3 7 14 30)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Profile column that must not be a criterion.")
    ] = None,
    distill: Annotated[
        bool, typer.Option(help="Fit the points to a LightGBM's log-odds instead of the labels.")
    ] = False,
    baseline: Annotated[
        Path | None, typer.Option(help="Hand-written scorecard YAML to compare with.")
    ] = None,
    compare: Annotated[
        bool, typer.Option(help="Held-out comparison (learn at an earlier origin, test after).")
    ] = True,
    until: Annotated[
        str | None,
        typer.Option(
            help="Learn only from outcomes known at this time (e.g. before the backtest origin "
            "of the train that will use the scorecard as its rules baseline)."
        ),
    ] = None,
    mapping: MappingFile = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Learn a points scorecard from data (binned fit criteria, decayed engagement counts,
    integer points, grades and bands) and write it as scorecard YAML; print its points table
    and, out of time, how it compares with --baseline."""
    from leadml.io import load_tables
    from leadml.rules import compare_scorecards, learn_scorecard, write_scorecard

    tables = load_tables(
        leads=leads, events=events, conversions=conversions, cutoffs=cutoffs, mapping=mapping
    )
    options: dict[str, Any] = {
        "horizon": horizon,
        "pdo": pdo,
        "max_bins": max_bins,
        "exclude": exclude or (),
        "seed": seed,
        **_given(candidate_half_lives=half_life or None),
    }
    _progress.stage("learning the scorecard")
    config, report = learn_scorecard(
        tables["leads"],
        tables.get("events"),
        tables.get("conversions"),
        every=every,
        cutoffs=tables.get("cutoffs"),
        distill=distill,
        until=until,
        **options,
    )
    write_scorecard(config, out)
    print_points_table(config, f"learned scorecard ({out})")
    r = report.rows
    console.print(
        f"learned from {r['rows']:,} rows ({r['leads']:,} leads, {r['conversions']:,} "
        f"conversions); {report.pdo:g} points double the odds; odds at 0 points "
        f"1:{1 / report.odds_at_zero:.1f}"
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    if compare:
        _progress.stage("held-out comparison")
        table, _ = compare_scorecards(
            tables["leads"],
            tables.get("events"),
            tables.get("conversions"),
            every=every,
            cutoffs=tables.get("cutoffs"),
            baseline=baseline,
            distill=distill,
            **options,
        )
        a = table.attrs
        t = Table(
            title=f"held out: learned at {a['origin']:%Y-%m-%d} on {a['train_rows']:,} rows, "
            f"tested on the {a['test_rows']:,} rows after ({a['test_conversions']:,} conversions)"
        )
        cols = ["auc", "ece", "lift_10", "log_loss"]
        t.add_column("scorecard")
        for c in cols:
            t.add_column(c, justify="right")
        for name, row in table.iterrows():
            t.add_row(str(name), *[f"{row[c]:.3f}" for c in cols])
        console.print(t)
    console.print(f"wrote {out}")


@command()
def demo(
    n_leads: Annotated[int, typer.Option(help="Synthetic leads.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Where the model and report go.")] = Path("demo_output"),
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    mlflow: Annotated[bool, typer.Option(help="Log, register and score through MLflow.")] = True,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: a SQLite file in OUT).")
    ] = None,
    figures: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the pictures (reliability, lift, conversion_by_band, "
            "reasons_waterfall .png; default: OUT/figures)."
        ),
    ] = None,
) -> None:
    """The main job on an embedded synthetic CRM: training set, rules vs logistic vs LightGBM
    on the last window, the report, the pictures, and a few scored leads."""
    from leadml.jobs import run_demo

    r = run_demo(
        n_leads,
        seed=seed,
        out=out,
        n_boot=n_boot,
        mlflow=mlflow,
        tracking_uri=tracking_uri,
        figures=figures,
    )
    crm = r.crm
    console.print(
        f"synthetic CRM: {len(crm.leads):,} leads, {len(crm.events):,} events, "
        f"{len(crm.conversions):,} conversions, {crm.start:%Y-%m-%d} .. "
        f"{crm.observed_until:%Y-%m-%d}"
    )
    _print_result(r.result)
    console.print(
        "[dim]reference = the generator's true probabilities given what a model can see "
        "(the best any model could do); the gap to it is the room left.[/]"
    )
    if r.mlflow:
        uri = r.mlflow["tracking_uri"]
        console.print(
            f"MLflow: run {r.mlflow['run_id']}, registered leadml version {r.mlflow['version']} "
            f"as champion ({uri}; open it with: mlflow ui --backend-store-uri {uri})"
        )
    top = r.scores.sort_values("p_convert", ascending=False, kind="stable")
    print_scores(top.drop(columns=["reason_neg_1", "scorecard_reasons"]), n=8)
    print_figures(r.figure_paths)
    console.print(
        f"model: {r.model_dir}  report: {r.report_paths['html']}  (total {r.seconds:.0f} s)"
    )


@command("sample-data")
def sample_data(
    out: Annotated[Path, typer.Option(help="Folder to write the tables to.")],
    n_leads: Annotated[int, typer.Option(help="Synthetic leads.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    days: Annotated[int, typer.Option(help="Days of history.")] = 420,
) -> None:
    """Write a synthetic CRM (leads.csv, events.parquet, conversions.csv, truth.csv, and
    one_per_lead.csv: one decision time per lead) to try the other commands on."""
    from leadml.datasets import make_crm
    from leadml.io import write_table

    _progress.stage(f"generating {n_leads:,} leads")
    crm = make_crm(n_leads, seed=seed, days=days)
    out.mkdir(parents=True, exist_ok=True)
    write_table(crm.leads, out / "leads.csv")
    write_table(crm.events, out / "events.parquet")
    write_table(crm.conversions, out / "conversions.csv")
    write_table(crm.truth, out / "truth.csv")
    write_table(
        crm.sample_cutoffs(per_lead=1, seed=seed)[["lead_id", "as_of"]], out / "one_per_lead.csv"
    )
    console.print(
        f"wrote {len(crm.leads):,} leads, {len(crm.events):,} events and {len(crm.conversions):,} "
        f"conversions ({crm.start:%Y-%m-%d} .. {crm.observed_until:%Y-%m-%d}) to {out}"
    )


def main() -> None:
    """Entry point of the ``leadml`` console script."""
    # the command line prints its own progress: no MLflow download progress bars
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        app()
    except KeyboardInterrupt:  # outside a command (e.g. while importing)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
