"""Command line: ``lutsearch run | status | analyze | dashboard | export | validate | list | calibrate``.

User mistakes (a malformed space, a missing study, a bad option) end in one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _nonneg_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    from lutsearch import __version__

    p = argparse.ArgumentParser(prog="lutsearch", description="Search LUT-based neural networks for FPGAs.")
    p.add_argument("--version", action="version", version=f"lutsearch {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    _run_parser(sub)

    status = sub.add_parser("status", help="progress and Pareto front of a study")
    status.add_argument("study_dir", type=Path, nargs="?", help="runs/<study>")
    status.add_argument("--storage")
    status.add_argument("--study", dest="study_name")
    status.add_argument("--json", action="store_true", help="counts and front as JSON on stdout (nothing else)")
    _analyze_parsers(sub)

    export = sub.add_parser("export", help="write Verilog RTL of a Pareto-best design, verified bit-exact")
    export.add_argument("study_dir", type=Path, help="runs/<study>")
    export.add_argument("--trial", type=int, help="export this complete trial (on the front or not) instead of a pick")
    export.add_argument("--pick", choices=("max-accuracy", "min-luts", "min-latency", "knee"), default="knee")
    export.add_argument("--max-luts", type=float)
    export.add_argument("--pipeline", type=int, default=1, help="register after every k L-LUT layers (0: none)")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--storage")
    export.add_argument("--study", dest="study_name")
    export.add_argument("--no-simulate", action="store_true")
    export.add_argument("--no-synthesize", action="store_true")
    export.add_argument(
        "--dont-cares",
        type=_positive_int,
        metavar="K",
        help="don't-care compression first: table entries the training split reaches fewer than K times are "
        "free, chosen to minimize logic (the report records accuracy and LUTs before and after)",
    )

    validate = sub.add_parser("validate", help="check a space file and print what it searches")
    validate.add_argument("space", type=Path)

    sub.add_parser("list", help="families, datasets, objectives and samplers available")
    _calibrate_parser(sub)
    return p


def _analyze_parsers(sub) -> None:
    """``lutsearch analyze`` and ``lutsearch dashboard`` (lutsearch/analyze)."""
    analyze = sub.add_parser("analyze", help="write an offline HTML report, paper PNGs and summary.json of a study")
    analyze.add_argument("study_dir", type=Path, nargs="?", help="runs/<study>")
    analyze.add_argument("--out", type=Path, help="report folder (default: STUDY_DIR/report)")
    analyze.add_argument("--storage")
    analyze.add_argument("--study", dest="study_name")
    analyze.add_argument("--open", action="store_true", help="open report.html in the default browser")
    dash = sub.add_parser("dashboard", help="serve optuna-dashboard on a study's storage until Ctrl-C")
    dash.add_argument("study_dir", type=Path, nargs="?", help="runs/<study>")
    dash.add_argument("--storage")
    dash.add_argument("--study", dest="study_name")
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8080)


def _run_parser(sub) -> None:
    """``lutsearch run SPACE [options]``."""
    run = sub.add_parser("run", help="run or resume a multi-objective study")
    run.add_argument("space", type=Path, help="search-space YAML file (spaces/*.yaml)")
    run.add_argument(
        "--trials",
        type=_positive_int,
        default=40,
        help="the study's total target of trained trials (designs pruned before training do not count)",
    )
    run.add_argument("--workers", type=_positive_int, default=1, help="trials in flight at once")
    run.add_argument("--storage", help="any Optuna storage URL (default: sqlite under runs/<study>/)")
    run.add_argument("--study", dest="study_name", help="study name (default: the space's name)")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where studies and artifacts go")
    run.add_argument("--ray-address", help="join an existing Ray cluster (default: start a local Ray)")
    run.add_argument("--cpus-per-trial", type=_nonneg_float, default=1.0)
    run.add_argument("--gpus-per-trial", type=_nonneg_float, default=0.0)
    run.add_argument(
        "--memory-per-trial",
        type=_positive_int,
        metavar="MB",
        help="Ray: reserve this much memory per trial and cap the trial's address space at it (a trial over it "
        "fails as out of memory, the study goes on)",
    )
    run.add_argument(
        "--executor",
        choices=("ray", "inprocess"),
        default="ray",
        help="run trials on Ray (default) or inside this process",
    )
    run.add_argument("--quiet", action="store_true", help="plain log lines instead of the live table")
    run.add_argument(
        "--warm-start",
        type=Path,
        metavar="PATH",
        help="baseline space file or folder (e.g. spaces/baselines): the published designs that fit the space "
        "are its first trials (overrides the space's warm_start key)",
    )


def _calibrate_parser(sub) -> None:
    """``lutsearch calibrate {rebuild,study,import,units}`` (lutsearch/calibrate/_command.py)."""
    cal = sub.add_parser("calibrate", help="rebuild, extend or re-target the surrogate cost model's calibration")
    # short forms: `calibrate --from results.csv --out F` (import), `--study RUN --out F`, `--out F` (rebuild)
    cal.add_argument("--from", dest="from_csv", type=Path, help="import another tool's per-unit LUT counts")
    cal.add_argument("--study", dest="study_path", type=Path, help="add a study's designs")
    cal.add_argument("--out", dest="top_out", type=Path, help="calibration file to write (short forms)")
    verbs = cal.add_subparsers(dest="verb")
    rebuild = verbs.add_parser("rebuild", help="random + trained corpus rows -> a calibration; fidelity report")
    rebuild.add_argument("--out", type=Path, required=True, help="calibration file to write (CSV)")
    rebuild.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "lutsearch" / "corpus")
    rebuild.add_argument("--random", type=int, default=84, help="random/structured networks (0: none)")
    rebuild.add_argument("--jobs", type=int, default=None)
    study = verbs.add_parser("study", help="add a study's designs (per-unit Yosys) to a calibration")
    study.add_argument("study_dir", type=Path)
    study.add_argument("--out", type=Path, required=True)
    study.add_argument("--base", type=Path, help="calibration to extend (default: the one in use)")
    study.add_argument("--jobs", type=int, default=None)
    imp = verbs.add_parser("import", help="re-target a calibration to another tool's per-unit LUT counts")
    imp.add_argument("results", type=Path, help="CSV with columns key, luts[, depth]")
    imp.add_argument("--out", type=Path, required=True)
    imp.add_argument("--base", type=Path, help="calibration whose rows the keys refer to (default: the one in use)")
    units = verbs.add_parser("units", help="write the neuron units of a study or the corpus as Verilog")
    units.add_argument("out_dir", type=Path)
    units.add_argument("--study", type=Path, help="a study folder (runs/<name>); default: the corpus")
    units.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "lutsearch" / "corpus")


def _cmd_run(args) -> int:
    from lutsearch.data import check_dataset
    from lutsearch.search import ProgressReporter, RunOptions, run_study
    from lutsearch.space import load_space

    space = load_space(args.space)
    # column mistakes in a data file end here, in one line, before a study folder or database is created
    check_dataset(space.dataset["name"], val_fraction=space.dataset["val_fraction"], **space.dataset["options"])
    reporter = ProgressReporter(quiet=args.quiet or not sys.stdout.isatty())
    options = RunOptions(
        trials=args.trials,
        workers=args.workers,
        runs_dir=args.runs_dir,
        storage=args.storage,
        study_name=args.study_name,
        executor=args.executor,
        ray_address=args.ray_address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        memory_per_trial_mb=args.memory_per_trial,
        warm_start=args.warm_start,
    )
    try:
        summary = run_study(space, options, on_event=reporter)
    except KeyboardInterrupt:
        reporter.close()
        print(
            "interrupted: running trials were recorded as failed and re-queued; re-run the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(f"report: {_analyze_command(summary.handle.study_dir, args.storage, summary.handle.study.study_name)}")
    return 0


def _analyze_command(study_dir: Path, storage: str | None, study_name: str) -> str:
    """The one command that writes and opens a finished study's report (the last line of ``lutsearch run``)."""
    import shlex

    from lutsearch._redact import redact_url

    words = ["lutsearch", "analyze", str(study_dir), "--open"]
    if storage:  # a study outside runs/<study>/study.db is found by its storage URL and name (password hidden)
        words += ["--storage", redact_url(storage), "--study", study_name]
    return shlex.join(words)


def _cmd_status(args) -> int:
    from rich.console import Console

    from lutsearch.search import load_existing_study, status_renderable

    if args.json:
        from lutsearch.analyze import status_data, write_json

        data = status_data(args.study_dir, storage=args.storage, study_name=args.study_name)
        print(write_json(data.as_dict()))
        return 0
    handle = load_existing_study(args.study_dir, storage=args.storage, study_name=args.study_name)
    Console().print(status_renderable(handle.study))
    return 0


def _cmd_analyze(args) -> int:
    import webbrowser

    from lutsearch.analyze import build_report

    result = build_report(args.study_dir, args.out, storage=args.storage, study_name=args.study_name)
    c = result.data.counts
    print(
        f"study {result.data.name} ({result.data.dataset_variant}): {c.complete} complete ({c.infeasible} infeasible), "
        f"{c.pruned_at_rung} pruned at a rung, {c.pruned_before_training} pruned before training, {c.failed} failed; "
        f"front {len(result.data.front)} design(s)"
    )
    for line in result.question_lines:
        print(line)
    print(f"report: {result.html}\nsummary: {result.summary}\nfigures: {', '.join(str(p) for p in result.pngs)}")
    if args.open:
        webbrowser.open(result.html.resolve().as_uri())  # returns False, harmlessly, without a browser
    return 0


def _cmd_dashboard(args) -> int:
    from lutsearch.analyze import serve_dashboard

    def announce(url: str) -> None:
        print(f"optuna-dashboard: {url}  (Ctrl-C stops it)", flush=True)

    try:
        serve_dashboard(
            args.study_dir,
            storage=args.storage,
            study_name=args.study_name,
            host=args.host,
            port=args.port,
            announce=announce,
        )
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # the port is taken or the host cannot be bound
        if isinstance(exc, FileNotFoundError):
            raise
        print(
            f"lutsearch dashboard: error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    return 0


def _cmd_export(args) -> int:
    from lutsearch.export import export_design

    report = export_design(
        args.study_dir,
        args.out,
        storage=args.storage,
        study_name=args.study_name,
        trial=args.trial,
        pick=args.pick,
        max_luts=args.max_luts,
        pipeline=args.pipeline,
        simulate=not args.no_simulate,
        synthesize=not args.no_synthesize,
        dont_cares=args.dont_cares,
    )
    where = "on the feasible Pareto front" if report.get("on_front") else "not on the feasible Pareto front"
    print(f"exported trial {report.get('trial')} ({where}) to {args.out}")
    return 0


def _cmd_validate(args) -> int:
    from lutsearch.data import check_dataset
    from lutsearch.space import load_space

    space = load_space(args.space)
    # the data file's header and first rows (lutsearch.data.check_dataset): column mistakes before a study starts
    check_dataset(space.dataset["name"], val_fraction=space.dataset["val_fraction"], **space.dataset["options"])
    searched = (
        [k for k, v in space.params.items() if v.searched]
        + [f"{fam}.{k}" for fam, block in space.when.items() for k in block]
        + [f"train.{k}" for k, v in space.train.items() if v.searched]
    )
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in space.objectives)
    print(
        f"{space.path}: ok — study {space.name!r}, dataset {space.dataset['name']}, families "
        f"{', '.join(space.families())}, objectives {objectives}"
        f", constraints [{', '.join(map(str, space.constraints))}], sampler {space.sampler}, searched: "
        f"{', '.join(searched) or 'nothing (a fixed point)'}"
    )
    if space.question is not None:
        print(space.question.describe())
    return 0


def _cmd_list(args) -> int:
    from lutsearch.data import dataset_names
    from lutsearch.hw import COST_BACKENDS
    from lutsearch.models import CONNECTIVITY, family_names, get_family
    from lutsearch.objectives import get_objective, objective_names
    from lutsearch.space import SAMPLERS

    print("families:")
    for name in family_names():
        print(f"  {name:12s} {get_family(name).doc}  knobs: {', '.join(get_family(name).knobs) or '(common only)'}")
    print("connectivity (knob `connectivity`):")
    for name in CONNECTIVITY.names():
        scheme = CONNECTIVITY.get(name)
        print(f"  {name:12s} {scheme.doc}" + (f"  knobs: {', '.join(scheme.knobs)}" if scheme.knobs else ""))
    print("datasets:   " + ", ".join(dataset_names()))
    print("objectives:")
    for name in objective_names():
        spec = get_objective(name)
        print(f"  {name:12s} {spec.direction:8s} backends: {', '.join(sorted(spec.backends))} — {spec.doc}")
    print("cost backends (via:): " + ", ".join(COST_BACKENDS.names()))
    print("samplers:")
    for name in SAMPLERS.names():
        print(f"  {name:12s} {SAMPLERS.get(name).doc}")
    return 0


def _calibrate_verb(args) -> argparse.Namespace:
    """The short forms (no verb) as their verbs: --from -> import, --study -> study, else rebuild."""
    if args.verb is not None:
        return args
    if args.top_out is None:
        raise ValueError("calibrate: give a verb (rebuild, study, import, units) or --out with --from/--study")
    common = {"out": args.top_out, "base": None, "jobs": None}
    if args.from_csv is not None:
        return argparse.Namespace(verb="import", results=args.from_csv, **common)
    if args.study_path is not None:
        return argparse.Namespace(verb="study", study_dir=args.study_path, **common)
    corpus = Path.home() / ".cache" / "lutsearch" / "corpus"
    return argparse.Namespace(verb="rebuild", corpus=corpus, random=84, **common)


def _cmd_calibrate(args) -> int:
    from lutsearch.calibrate._command import run
    from lutsearch.hw import YosysNotFound

    try:
        return run(_calibrate_verb(args))
    except (ValueError, OSError, YosysNotFound) as exc:  # bad files or inputs: one line, no traceback
        print(
            f"lutsearch calibrate: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from lutsearch.data import DatasetError
    from lutsearch.search import ExecutorError, StudyError
    from lutsearch.space import SpaceError

    errors: list[type[BaseException]] = [SpaceError, StudyError, ExecutorError, DatasetError, FileNotFoundError]
    try:
        from lutsearch.export import ExportError

        errors.append(ExportError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Idle OpenMP threads spin by default; on a shared or oversubscribed machine that slows every trial
    # several-fold. Set before torch is imported; Ray workers inherit it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _restore_ctrl_c()
    args = _parser().parse_args(argv)
    handler = {
        "run": _cmd_run,
        "status": _cmd_status,
        "export": _cmd_export,
        "analyze": _cmd_analyze,
        "dashboard": _cmd_dashboard,
        "validate": _cmd_validate,
        "list": _cmd_list,
        "calibrate": _cmd_calibrate,
    }[args.command]
    try:
        return handler(args)
    except _user_errors() as exc:
        print(f"lutsearch: error: {_one_line(exc, args)}", file=sys.stderr)
        return 2


def _restore_ctrl_c() -> None:
    """Ctrl-C (or ``kill -INT``) raises KeyboardInterrupt, which a command turns into an orderly stop (a
    run records its running trials and re-queues them). A background job of a script or CI inherits SIGINT
    *ignored*, and Python then leaves it ignored: without this, ``kill -INT`` would never stop a run."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """A user error in one line; a dataset's names the space file and its key (``dataset.options.<option>``)."""
    from lutsearch.data import DatasetError

    lines = str(exc).splitlines() or [type(exc).__name__]
    text = " ".join(line.strip() for line in lines if line.strip())
    if isinstance(exc, DatasetError) and args.command in ("run", "validate"):  # the commands that read a space
        key = f"dataset.options.{exc.option}" if exc.option else "dataset"
        return f"{args.space}: {key}: {text}"
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
