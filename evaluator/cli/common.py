"""What every command shares: output formats, the input loader, exit statuses, the options that
choose a decision (weights, budgets, caps, locks, risk measure) and the one call of the pipeline.

Exit status: 0 all applications valid; 3 some applications invalid (the rest printed);
2 the file or the options could not be used at all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd

from evaluator.errors import EvaluatorError
from models.scenario import CRITERIA, RISK_MEASURES

EXIT_OK, EXIT_INVALID_ROWS, EXIT_UNUSABLE = 0, 3, 2


class CliError(EvaluatorError):
    """A problem with the command line or a file that stops the command (exit 2)."""


def json_value(v):
    """A JSON-ready value: NaN and infinities become null, numpy scalars Python ones."""
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return v


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV whose text cells cannot run as spreadsheet formulas."""
    from evaluator.safe_text import safe_csv

    return safe_csv(frame, index=False)


def emit(frame: pd.DataFrame, fmt: str, out=None, summary: dict | None = None) -> None:
    """Print a result table as ``table``, ``json`` (a list of records, or
    ``{"applications": [...], "summary": {...}}`` when a summary is given) or ``csv``."""
    out = out or sys.stdout
    if fmt == "json":
        records = [{k: json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]
        obj = records if summary is None else {"applications": records, "summary": json_value(summary)}
        out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        out.write(csv_text(frame))
        if summary:
            sys.stderr.write(json.dumps(json_value(summary), indent=2, ensure_ascii=False) + "\n")
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.float_format", lambda x: f"{x:,.3f}"):
            out.write(frame.to_string(index=False) + "\n")
        if summary:
            out.write("\n" + summary_text(summary) + "\n")


def summary_text(summary: dict, indent: str = "") -> str:
    lines = []
    for k, v in summary.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.append(summary_text(v, indent + "  "))
        else:
            lines.append(f"{indent}{k}: {json_value(v)}")
    return "\n".join(lines)


def load_inputs(args) -> tuple:
    """Reference data, scenario and applications for a command; problems go to stderr."""
    from evaluator.reference import load_reference
    from models.application import ValidationError
    from models.loader import load_applications
    from models.scenario import ScenarioError, default_scenario, load_scenario

    ref = load_reference()
    try:
        scenario = load_scenario(args.scenario) if getattr(args, "scenario", None) else default_scenario()
    except ScenarioError as exc:
        raise CliError(f"scenario: {exc}") from None
    try:
        result = load_applications(args.file, ref=ref, currencies=scenario.fx_usd_per_unit)
    except ValidationError as exc:
        raise CliError("\n".join(f"{args.file}: {p.message()}" for p in exc.problems)) from None
    for p in result.problems:
        sys.stderr.write(f"invalid application {p.message()}\n")
    for p in result.notices:  # read other than as stored: said, not refused
        sys.stderr.write(f"notice: {p.message()}\n")
    return ref, scenario, result


def status(result) -> int:
    return EXIT_INVALID_ROWS if result.problems else EXIT_OK


def add_common(p: argparse.ArgumentParser, file_required: bool = True) -> None:
    if file_required:
        p.add_argument("file", help="applications: workbook (.xlsx, template format), .csv or .json")
    p.add_argument("--scenario", help="scenario file (.toml or .json); default: the bundled 2026 scenario")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")


def add_risk_options(p: argparse.ArgumentParser) -> None:
    """``--risk-adjusted [p10_npv|prob_loss]`` and the simulation's paths and seed."""
    p.add_argument("--risk-adjusted", nargs="?", const="p10_npv", choices=list(RISK_MEASURES),
                   help="rank and allocate on the simulated P10 NPV per KRW of support (default) or on "
                        "P(NPV < 0); runs the Monte Carlo first")
    p.add_argument("--paths", type=int, default=10_000, help="simulated paths for --risk-adjusted (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")


def add_decision_options(p: argparse.ArgumentParser) -> None:
    """Budgets, caps, objective, locks, weights, customs and the risk measure."""
    p.add_argument("--fund-krw-bn", type=float, help="fund budget [KRW bn] (default: scenario, 250)")
    p.add_argument("--loan-krw-bn", type=float, help="policy-loan budget [KRW bn] (default: scenario, 67.5)")
    p.add_argument("--country-cap-share", type=float, help="max share of the total allocated to one host country [0-1]")
    p.add_argument("--mineral-cap-share", type=float, help="max share of the total allocated to one mineral [0-1]")
    p.add_argument("--objective", choices=["score_weighted_support", "total_score", "total_npv", "total_diversification"])
    p.add_argument("--min-fraction", type=float, help="smallest funded share of a request [0-1]")
    p.add_argument("--lock-in", help="application ids that must be funded, comma-separated")
    p.add_argument("--lock-out", help="application ids that must not be funded, comma-separated")
    p.add_argument("--time-limit-s", type=float, default=10.0, help="solver time limit [s] (default 10)")
    add_weights_option(p)
    add_risk_options(p)


def add_weights_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="criteria weights, e.g. financial=0.25,risk=0.15,diversification=0.3,"
                                     "loan_safety=0.1,readiness=0.1,esg=0.1 (non-negative, normalised; "
                                     "criteria not named keep the scenario's weight)")
    p.add_argument("--customs", help="customs extract in UN Comtrade format replacing the bundled Korea imports")


def ids_option(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def parse_weights(text: str | None, base) -> dict[str, float] | None:
    """``"financial=0.3,risk=0.2"`` -> the scenario's weights with those criteria replaced."""
    if text is None:
        return None
    out = {c: float(base.get(c, 0.0)) for c in CRITERIA}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise CliError(f"--weights: {item!r} must be criterion=number (criteria: {', '.join(CRITERIA)})")
        k, v = (s.strip() for s in item.split("=", 1))
        if k not in CRITERIA:
            raise CliError(f"--weights: unknown criterion {k!r} (criteria: {', '.join(CRITERIA)})")
        try:
            out[k] = float(v)
        except ValueError:
            raise CliError(f"--weights: {k}={v!r} is not a number") from None
        if not math.isfinite(out[k]):
            raise CliError(f"--weights: {k}={v!r} is not a finite number")
    from evaluator.scoring import ScoringError, validate_weights

    try:
        validate_weights(out)
    except ScoringError as exc:
        raise CliError(str(exc)) from None
    return out


def scenario_from_args(scenario, args):
    """The scenario with the command-line overrides applied (validated by the scenario itself)."""
    from models.scenario import ScenarioError

    changes = {}
    for opt in ("fund_krw_bn", "loan_krw_bn", "country_cap_share", "mineral_cap_share", "objective", "min_fraction"):
        v = getattr(args, opt, None)
        if v is not None:
            changes[opt] = v
    if getattr(args, "weights", None):
        changes["weights"] = parse_weights(args.weights, scenario.weights)
    if getattr(args, "risk_adjusted", None):
        changes["financial_measure"] = args.risk_adjusted
    try:
        return scenario.replace(**changes) if changes else scenario
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


def read_customs(args, ref):
    """The ``--customs`` extract, read and checked (None without the option)."""
    if not getattr(args, "customs", None):
        return None
    from evaluator.customs import CustomsError, read_comtrade

    try:
        customs = read_comtrade(args.customs, ref=ref)
    except (CustomsError, OSError) as exc:
        raise CliError(f"--customs {args.customs}: {exc}") from None
    for note in customs.problems:
        sys.stderr.write(f"customs extract: {note}\n")
    return customs


@contextlib.contextmanager
def quiet_stdout():
    """Silence stray solver lines written to file descriptor 1 (HiGHS inside scipy prints some),
    so that machine-read output (JSON, CSV) stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Progress:
    """Progress line on stderr, shown only once a run has taken more than a second."""

    def __init__(self, label: str = "simulate", stream=None, after_s: float = 1.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.after_s = after_s
        self.shown = False

    def __call__(self, fraction: float) -> None:
        if time.perf_counter() - self.t0 < self.after_s:
            return
        self.shown = True
        self.stream.write(f"\r{self.label}: {100 * fraction:5.1f}% ({time.perf_counter() - self.t0:.1f} s)")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def protected_inputs(args) -> list[tuple[str, str | None]]:
    """The files a command reads (and the scenario store) that no output of it may overwrite."""
    from pathlib import Path

    from evaluator.store import ENV_VAR

    store = getattr(args, "store", None) or os.environ.get(ENV_VAR)
    default_store = Path.home() / ".local" / "share" / "mine-evaluator" / "scenarios.sqlite3"
    return [("input file", getattr(args, "file", None)), ("--from file", getattr(args, "from_file", None)),
            ("scenario file", getattr(args, "scenario", None)), ("customs extract", getattr(args, "customs", None)),
            ("scenario store", store), ("scenario store", str(default_store))]


def write_output(args, path, data: bytes) -> None:
    """Write a command's output file: refused when it names an input or the store; written to a
    temporary file in the same folder and renamed (a full disk leaves the previous file whole)."""
    from evaluator.safe_file import OutputError, check_output_path, write_atomic

    try:
        check_output_path(path, protected_inputs(args))
        write_atomic(path, data)
    except OutputError as exc:
        raise CliError(str(exc)) from None


#: Most simulated paths an option may ask for: ten times the default (memory and time grow with it).
MAX_PATHS = 100_000
#: Longest solver time limit an option may set [s] (an hour).
MAX_TIME_LIMIT_S = 3_600.0


def check_paths(args) -> None:
    if getattr(args, "paths", 1) < 1:
        raise CliError("--paths must be >= 1")
    if getattr(args, "paths", 1) > MAX_PATHS:
        raise CliError(f"--paths must be at most {MAX_PATHS:,}")
    if getattr(args, "seed", 0) < 0:
        raise CliError("--seed must be a whole number >= 0")
    limit = getattr(args, "time_limit_s", 10.0)
    if not (math.isfinite(limit) and 0 < limit <= MAX_TIME_LIMIT_S):
        raise CliError(f"--time-limit-s must be a number > 0 and at most {MAX_TIME_LIMIT_S:,.0f}")


def run_pipeline(args, *, allocate: bool):
    """Load the inputs and run :func:`evaluator.pipeline.run` with the command's options.

    Returns
    -------
    (applications, scenario, ref, PipelineResult, exit status)
        The result is None when the file holds no valid application (the problems are on stderr).
    """
    from evaluator import pipeline

    check_paths(args)
    ref, scenario, loaded = load_inputs(args)
    scenario = scenario_from_args(scenario, args)
    if not loaded.applications:
        return (), scenario, ref, None, status(loaded) or EXIT_INVALID_ROWS
    customs = read_customs(args, ref)
    from evaluator.allocation import AllocationError
    from evaluator.portfolio import PortfolioError

    prog = Progress()
    try:
        with quiet_stdout():  # HiGHS may print stray lines
            result = pipeline.run(loaded.applications, scenario, ref, customs=customs,
                                  n_paths=getattr(args, "paths", pipeline.DEFAULT_SIMULATION_PATHS),
                                  seed=getattr(args, "seed", 0), progress=prog, allocate=allocate,
                                  locked_in=ids_option(getattr(args, "lock_in", None)),
                                  locked_out=ids_option(getattr(args, "lock_out", None)),
                                  time_limit_s=getattr(args, "time_limit_s", 10.0))
    except (AllocationError, PortfolioError) as exc:
        raise CliError(f"allocation: {exc}") from None
    finally:
        prog.close()
    if result.allocation is not None:
        check_allocation(result, scenario)
    return loaded.applications, scenario, ref, result, status(loaded)


def check_allocation(result, scenario) -> None:
    """Never print an allocation that breaks a budget or a cap; warn when a limit stopped the solver."""
    from evaluator import portfolio

    violations = portfolio.check_allocation(result.allocation, scenario)
    if violations:
        raise CliError("allocation failed its re-check: " + "; ".join(violations))
    for w in result.summary.warnings:  # a limit stopped the solver, or nothing could be funded
        sys.stderr.write(f"warning: {w}\n")
