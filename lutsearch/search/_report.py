"""Progress and status: counts, ETA and the current feasible Pareto front, as rich tables.

The same table serves the live display of ``lutsearch run`` and ``lutsearch status`` (which reads
the storage, also while a run is going on). Quiet mode prints one plain line per event for CI logs.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lutsearch.search._progress import RunningRow, eta_seconds, running_rows
from lutsearch.search._repeats import REPEAT_OF
from lutsearch.search._study import REQUEUED, UNTRAINED, count_done

__all__ = [
    "ProgressReporter",
    "confirmed_rows",
    "confirmed_table",
    "front_rows",
    "front_table",
    "status_renderable",
    "study_counts",
]


def study_counts(study: optuna.Study) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    by_state = dict.fromkeys(("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"), 0)
    for t in trials:
        by_state[t.state.name] = by_state.get(t.state.name, 0) + 1
    durations = [t.duration.total_seconds() for t in trials if t.state == TrialState.COMPLETE and t.duration]
    return {
        "done": count_done(study),
        "target": int(study.user_attrs.get("target_trials", 0)),
        "complete": by_state["COMPLETE"],
        "pruned": by_state["PRUNED"],
        "untrained": sum(1 for t in trials if t.user_attrs.get(UNTRAINED)),
        "reused": sum(1 for t in trials if REPEAT_OF in t.user_attrs),  # repeats of trained designs (_repeats)
        "degenerate": sum(1 for t in trials if t.user_attrs.get("degenerate")),
        "failed": sum(1 for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get(REQUEUED)),
        "interrupted": sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get(REQUEUED)),
        "running": by_state["RUNNING"],
        "mean_trial_seconds": sum(durations) / len(durations) if durations else None,
    }


def front_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """The feasible Pareto front (Optuna's ``best_trials``), sorted by the first objective."""
    names = study.metric_names or [f"objective{i}" for i in range(len(study.directions))]
    rows = []
    for t in study.best_trials:
        row = {"trial": t.number, **dict(zip(names, t.values))}
        row["test_acc"] = t.user_attrs.get("test_acc")
        row["family"] = t.params.get("family", t.user_attrs.get("family", ""))
        rows.append(row)
    first = names[0]
    reverse = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    return sorted(rows, key=lambda r: r[first], reverse=reverse)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if 0 < abs(value) < 1:
            return f"{value:.4f}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def front_table(study: optuna.Study, limit: int = 15) -> Table:
    rows = front_rows(study)
    names = study.metric_names or []
    table = Table(
        title=f"Pareto front ({len(rows)} feasible trial{'s' if len(rows) != 1 else ''})", title_justify="left"
    )
    table.add_column("trial", justify="right")
    for name, direction in zip(names, study.directions):
        arrow = "↑" if direction == optuna.study.StudyDirection.MAXIMIZE else "↓"
        table.add_column(f"{name} {arrow}", justify="right")
    table.add_column("test acc (reported)", justify="right")
    for row in rows[:limit]:
        table.add_row(str(row["trial"]), *(_fmt(row[n]) for n in names), _fmt(row["test_acc"]))
    if len(rows) > limit:
        table.add_row("…", *([""] * (len(names) + 1)))
    return table


def counts_line(counts: dict[str, Any], started: float | None = None, done_at_start: int = 0) -> str:
    """One line of counts; the ETA is ``counts["eta_seconds"]`` when known (``_progress``), else the
    observed rate of finished trials."""
    done, target = counts["done"], counts["target"]
    eta = "-"
    if counts.get("eta_seconds") is not None and target > done:
        eta = f"{counts['eta_seconds'] / 60:.1f} min"
    elif started is not None and done > done_at_start and target > done:
        rate = (time.time() - started) / (done - done_at_start)
        eta = f"{rate * (target - done) / 60:.1f} min"
    elif counts.get("mean_trial_seconds") and target > done:
        eta = f"~{counts['mean_trial_seconds'] * (target - done) / 60:.1f} min (serial)"
    untrained = counts.get("untrained", 0)
    stopped = counts["pruned"] - untrained
    reused = f", of which repeats reused {counts['reused']}" if counts.get("reused") else ""
    line = (
        f"trials {done}/{target}  running {counts['running']}  complete {counts['complete']}  "
        f"stopped at a rung {stopped}  failed {counts['failed']}  interrupted+requeued {counts['interrupted']}"
        f"  (pruned before training {untrained}{reused})"
    )
    if counts.get("degenerate"):
        line += f"  degenerate {counts['degenerate']}"
    return line + f"  ETA {eta}"


def running_table(rows: list[RunningRow]) -> Table | None:
    """Each running trial: family, rung, epoch and current validation accuracy (from its progress file)."""
    if not rows:
        return None
    table = Table(title=f"Running ({len(rows)})", title_justify="left")
    for name in ("trial", "family", "rung", "epoch", "val acc now", "elapsed"):
        table.add_column(name, justify="left" if name == "family" else "right")
    for r in sorted(rows, key=lambda r: r.number):
        rung = "-" if r.rung is None else f"{r.rung + 1}/{r.rungs}"
        epoch = f"{r.epoch}/{r.epochs}" if r.epochs else "starting"
        table.add_row(str(r.number), r.family, rung, epoch, _fmt(r.val_acc), f"{r.seconds:.0f} s")
    return table


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def confirmed_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Designs Yosys confirmed (``lutsearch.search._confirm``): the model's and Yosys' LUTs, and whether
    each is on the *confirmed* front (the Pareto front of confirmed designs with Yosys' LUT count in
    place of the model's)."""
    from lutsearch.search._confirm import confirmations

    done = confirmations(study)
    names = study.metric_names or []
    if not done or "luts" not in names:
        return []
    col = names.index("luts")
    signs = [-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions]
    trials = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    rows = []
    for number, result in sorted(done.items()):
        trial = trials.get(number)
        if trial is None or "luts" not in result:
            continue
        values = list(trial.values)
        values[col] = float(result["luts"])
        rows.append(
            {
                "trial": number,
                "family": trial.params.get("family", trial.user_attrs.get("family", "")),
                "values": values,
                "model": float(trial.values[col]),
                "yosys": float(result["luts"]),
            }
        )
    losses = [[s * v for s, v in zip(signs, r["values"])] for r in rows]
    for r, loss in zip(rows, losses):
        r["confirmed_front"] = not any(_dominates(other, loss) for other in losses if other is not loss)
    return rows


def confirmed_table(study: optuna.Study, limit: int = 15) -> Table | None:
    rows = confirmed_rows(study)
    if not rows:
        return None
    fit = study.user_attrs.get("surrogate_residual", {})
    title = f"Confirmed by Yosys ({len(rows)} design{'s' if len(rows) != 1 else ''}"
    if fit.get("n"):
        title += f"; model MAPE {fit['mape']:.1f} %, median Yosys/model {fit['ratio']:.3f}"
    table = Table(title=title + ")", title_justify="left")
    for name in ("trial", "family", "LUTs (model)", "LUTs (Yosys)", "error", "confirmed front"):
        table.add_column(name, justify="left" if name == "family" else "right")
    front_first = sorted(rows, key=lambda r: (not r["confirmed_front"], r["yosys"]))
    for r in front_first[:limit]:
        error = f"{100 * (r['model'] - r['yosys']) / r['yosys']:+.1f} %" if r["yosys"] else "-"
        table.add_row(
            str(r["trial"]),
            str(r["family"]),
            _fmt(r["model"]),
            _fmt(r["yosys"]),
            error,
            "yes" if r["confirmed_front"] else "",
        )
    return table


def status_renderable(
    study: optuna.Study, started: float | None = None, done_at_start: int = 0, workers: int | None = None
) -> Group:
    counts = study_counts(study)
    running = running_rows(study)
    remaining = max(0, counts["target"] - counts["done"] - counts["running"])
    counts["eta_seconds"] = eta_seconds(study, running, remaining, workers or max(1, len(running)))
    parts: list[Any] = [Text(f"study {study.study_name}: " + counts_line(counts, started, done_at_start))]
    table = running_table(running)
    if table is not None:
        parts.append(table)
    parts.append(front_table(study))
    confirmed = confirmed_table(study)
    if confirmed is not None:
        parts.append(confirmed)
    return Group(*parts)


class ProgressReporter:
    """The ``on_event`` callback of ``run_study``: a live table, or plain lines when quiet.

    The live table re-reads the study every ``refresh_seconds`` (not only on events), so the running
    trials' epochs and the ETA move while a long trial trains."""

    refresh_seconds = 5.0

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console()
        self.live: Live | None = None
        self.started = time.time()
        self.done_at_start = 0
        self.workers: int | None = None
        self._study: optuna.Study | None = None
        self._cached: tuple[float, Group] | None = None

    def _renderable(self) -> Group:
        now = time.time()
        if self._study is not None and (self._cached is None or now - self._cached[0] >= self.refresh_seconds):
            view = status_renderable(self._study, self.started, self.done_at_start, self.workers)
            self._cached = (now, view)
        return self._cached[1] if self._cached is not None else Group()

    def __call__(self, event: str, study: optuna.Study, info: dict[str, Any]) -> None:
        self._study = study
        if event == "start":
            self._start(study, info)
        elif event == "end":
            self.close()
            summary = info["summary"]
            self.console.print(status_renderable(study), soft_wrap=True)
            self.console.print(
                f"storage: {summary.handle.storage_url}\nartifacts: {summary.handle.study_dir / 'trials'}",
                soft_wrap=True,
            )
        elif event == "confirming":
            self.console.print(f"waiting for {info['pending']} Yosys confirmation(s) still running", soft_wrap=True)
        elif self.quiet:
            self._line(event, study, info)
        elif self.live is not None:
            if event == "finished" and info.get("error"):
                self.live.console.print(f"trial {info['number']} failed: {info['error']}")
            self._cached = None  # redraw now

    def _start(self, study: optuna.Study, info: dict[str, Any]) -> None:
        self.done_at_start = count_done(study)
        self.workers = info.get("workers")
        self.console.print(
            f"study {study.study_name}: target {info['target']} trained trials, executor "
            f"{info['executor']}, dataset {info['dataset']['variant']}"
            + (f", recovered interrupted trials {info['recovered']}" if info["recovered"] else ""),
            soft_wrap=True,
        )
        warm = info.get("warm_start")
        if warm:
            self.console.print(warm_start_text(warm), soft_wrap=True)
        if not self.quiet:
            self.live = Live(
                get_renderable=self._renderable, console=self.console, refresh_per_second=1, transient=True
            )
            self.live.start()

    def _line(self, event: str, study: optuna.Study, info: dict[str, Any]) -> None:
        """Quiet mode: one plain line per event."""
        number = info.get("number")
        if event == "finished":
            line = f"trial {number} {info['state'].lower()}"
            if info.get("error"):
                line += f": {info['error']}"
            elif info["state"] == "PRUNED" and isinstance(number, int):
                line += f": {study.get_trials(deepcopy=False)[number].user_attrs.get('prune_reason', '')}"
            counts = study_counts(study)
            self.console.print(f"{line} | {counts_line(counts, self.started, self.done_at_start)}", soft_wrap=True)
        elif event == "pruned":
            self.console.print(f"trial {number} pruned before training: {info['reason']}", soft_wrap=True)
        elif event == "promoted":
            self.console.print(
                f"trial {number} goes on after rung {info['rung']} ({info['epochs']} epochs): {info['decision']}",
                soft_wrap=True,
            )

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def warm_start_text(warm: dict[str, Any]) -> str:
    """What ``--warm-start`` did: which baselines fit the space and were enqueued, which did not and why."""
    plan = warm["plan"]
    enqueued = set(warm["enqueued"])
    lines = [
        f"warm start ({warm['source']}): {len(plan.fits)} of {len(plan.fits) + len(plan.misfits)} fit, "
        f"enqueued {len(enqueued)}"
    ]
    for name, _ in plan.fits:
        notes = "; ".join(plan.notes.get(name, []))
        state = "" if name in enqueued else " (already enqueued)"
        lines.append(f"  + {name}{state}" + (f"  ({notes})" if notes else ""))
    lines.extend(f"  - {name}: {reason}" for name, reason in plan.misfits)
    return "\n".join(lines)
