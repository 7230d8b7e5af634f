"""Question studies: the ``question:`` block, the paired grid on a real study, the statistics on synthetic studies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from helpers import small_space
from optuna.trial import TrialState

from lutsearch.analyze._questions import answer_questions
from lutsearch.analyze._stats import holm, interaction_test, mean_ci, stratum_stats
from lutsearch.search import RunOptions, count_done, run_study
from lutsearch.search._question_grid import (
    DUPLICATE,
    QUESTION_LEVEL,
    QUESTION_REPEAT,
    QUESTION_STRATUM,
    apply_question,
    duplicate_cell,
    enqueue_question_grid,
    give_back_duplicate,
    question_seed,
)
from lutsearch.search._study import open_study
from lutsearch.space import SpaceError, load_space

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "spaces" / "questions").glob("*.yaml"))

# fan_in is fixed in the helper space; the question overrides it per level; the strata change output_fan_in
QUESTION = """
question:
  knob: fan_in
  levels: [2, 3]
  reference: 3
  seeds: 2
  metric: accuracy
  strata:
    out3: {params: {output_fan_in: 3}}
    out4: {params: {output_fan_in: 4}}
"""


# ----------------------------------------------------------------------------------------------- schema
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_question_spaces_validate(path):
    space = load_space(path)
    q = space.question
    assert q is not None and space.fidelity is None
    assert q.seeds >= 5 and q.n_trials == len(q.strata) * q.seeds * len(q.levels)
    assert q.labels[q.reference] in q.describe()


def test_question_block_parses(tmp_path):
    space = load_space(small_space(tmp_path, "q", extra=QUESTION))
    q = space.question
    assert q is not None
    assert q.knobs == ("fan_in",) and q.labels == ("2", "3") and q.reference == 1
    assert q.metric == "accuracy" and q.direction == "maximize" and q.n_trials == 8
    assert [s.name for s in q.strata] == ["out3", "out4"] and q.strata[1].params == {"output_fan_in": 4}
    assert q.overrides(0) == ({"fan_in": 2}, {})


def test_joint_levels_and_training_knobs(tmp_path):
    extra = """
question:
  knobs: [fan_in, train.lr]
  levels: [{fan_in: 2, train.lr: 0.01}, {fan_in: 3, train.lr: 0.02}]
  labels: [small, large]
  reference: small
  seeds: 3
  metric: luts
"""
    q = load_space(small_space(tmp_path, "joint", extra=extra)).question
    assert q is not None and q.reference == 0 and q.direction == "minimize" and len(q.strata) == 1
    assert q.overrides(1) == ({"fan_in": 3}, {"lr": 0.02})


BAD = [
    ("question: {knob: fan_in, levels: [2, 3], reference: 3, bogus: 1}", "question: unknown key 'bogus'"),
    ("question: {levels: [2, 3], reference: 3}", "question: name exactly one of knob"),
    ("question: {knob: fan_in, levels: [2], reference: 2}", "question.levels: expected a list of at least 2"),
    ("question: {knob: fan_in, levels: [2, 2], reference: 2}", "question.levels: a level is listed twice"),
    ("question: {knob: fan_in, levels: [2, 3], reference: 5}", "question.reference: 5 is not a level; allowed: 2, 3"),
    ("question: {knob: fan_in, levels: [2, 3]}", "question.reference: missing"),
    ("question: {knob: fan_in, levels: [2, 3], reference: 3, seeds: 1}", "question.seeds: 1; allowed: an integer >= 2"),
    ("question: {knob: fan_in, levels: [2, 3], reference: 3, metric: test_acc}", "test accuracy is never a metric"),
    ("question: {knob: fan_in, levels: [2, 3], reference: 3, metric: val_acc}", "question.direction: missing"),
    (
        "question: {knob: input_bits, levels: [1, 2], reference: 1}",
        "also searched by the space (model.params.input_bits)",
    ),
    ("question: {knob: degree, levels: [1, 2], reference: 1}", "'degree' is not a knob of family 'logicnets'"),
    ("question: {knob: fan_in, levels: [2, wide], reference: 2}", "question.levels[1]: 'wide' is not"),
    ("question: {knob: train.bogus, levels: [1, 2], reference: 1}", "unknown training setting 'bogus'"),
    (
        "question: {knob: fan_in, levels: [2, 3], reference: 3, strata: {a: {family: polylut}}}",
        "question.strata.a.family: 'polylut'; allowed: logicnets",
    ),
    (
        "question: {knob: fan_in, levels: [2, 3], reference: 3, strata: {a: {params: {fan_in: 4}}}}",
        "question.strata.a.params.fan_in: the question's knob is set by its levels",
    ),
    (
        "question: {knob: fan_in, levels: [2, 3], reference: 3, strata: {a: {dataset: {name: nope}}}}",
        "question.strata.a.dataset.name: unknown dataset 'nope'",
    ),
    (
        "question: {knob: fan_in, levels: [2, 3], reference: 3}\nfidelity: {resource: epochs, min: 1, eta: 2}",
        "fidelity: a question study trains every cell to the end",
    ),
    (
        "question: {knobs: [fan_in, output_fan_in], levels: [{fan_in: 2}, {fan_in: 3}], reference: 2}",
        "question.levels[0]: expected a mapping of every knob",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_question_blocks_are_one_line_errors(tmp_path, extra, message):
    path = small_space(tmp_path, "bad", extra=extra)
    with pytest.raises(SpaceError) as err:
        load_space(path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{path}: ") and message in text, text


# ------------------------------------------------------------------------------------- the grid, for real
def _cells(study: optuna.Study) -> dict[tuple[str, int, str], list[optuna.trial.FrozenTrial]]:
    out: dict[tuple[str, int, str], list[optuna.trial.FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        key = (t.user_attrs[QUESTION_STRATUM], t.user_attrs[QUESTION_REPEAT], t.user_attrs[QUESTION_LEVEL])
        out.setdefault(key, []).append(t)
    return out


def test_grid_runs_paired_once_and_resumes_without_enqueuing_twice(tmp_path):
    space = load_space(small_space(tmp_path, "grid", extra=QUESTION))
    runs = tmp_path / "runs"
    handle = open_study(space, runs_dir=runs)
    assert enqueue_question_grid(handle.study, space) == 8
    assert enqueue_question_grid(handle.study, space) == 0  # held cells (waiting too) are not enqueued again
    summary = run_study(space, RunOptions(trials=100, runs_dir=runs, executor="inprocess"))  # target: the grid
    study = summary.handle.study
    assert summary.done == 8 and summary.target == 8
    cells = _cells(study)
    assert len(cells) == 8
    assert all([t.state for t in trials] == [TrialState.COMPLETE] for trials in cells.values())
    for stratum in ("out3", "out4"):
        for repeat in range(2):
            pair = [cells[stratum, repeat, level][0] for level in ("2", "3")]
            assert pair[0].params == pair[1].params  # the searched knobs drawn once per repeat
            assert {t.user_attrs["seed"] for t in pair} == {question_seed(space.seed, repeat)}
            configs = [json.loads((Path(t.user_attrs["artifact_dir"]) / "config.json").read_text()) for t in pair]
            assert [c["params"]["fan_in"] for c in configs] == [2, 3]
            assert {c["params"]["output_fan_in"] for c in configs} == {3 if stratum == "out3" else 4}
            assert {c["seed"] for c in configs} == {question_seed(space.seed, repeat)}
    n_trials = len(study.get_trials(deepcopy=False))
    again = run_study(space, RunOptions(trials=8, runs_dir=runs, executor="inprocess"))  # resume: nothing to add
    assert len(again.handle.study.get_trials(deepcopy=False)) == n_trials
    assert enqueue_question_grid(again.handle.study, space) == 0
    study = again.handle.study
    first = study.get_trials(deepcopy=False)[0]  # a second driver had enqueued the grid too: its twin yields
    study.enqueue_trial(first.params, user_attrs=first.user_attrs)
    twin = study.ask()
    assert duplicate_cell(study, twin)
    give_back_duplicate(study, twin)
    assert count_done(study) == 8 and study.trials[-1].user_attrs[DUPLICATE]
    report = answer_questions(study)
    assert report is not None and report.cells == 8 and report.missing == 0
    assert len(report.figures()) == 1 and "<table" in report.html()


# ----------------------------------------------------------------------------- statistics, synthetic studies
def _study(levels: list[float], strata: dict[str, tuple[list[float], float]], seeds: int, rng) -> optuna.Study:
    """An in-memory question study: per stratum, (effect per level, seed-to-seed sd); noise sd 0.004."""
    question = {
        "knob": "sparse_T",
        "levels": levels,
        "reference": levels[0],
        "seeds": seeds,
        "metric": "accuracy",
        "strata": {name: {"group": "g"} for name in strata},
    }
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "luts"])
    study.set_user_attr("space", {"question": question})
    labels = [f"{v:g}" for v in levels]
    for name, (effect, seed_sd) in strata.items():
        for r in range(seeds):
            base = 0.8 + rng.normal(0.0, seed_sd)  # the seed moves every level alike: pairing removes it
            for label, e in zip(labels, effect):
                value = base + e + rng.normal(0.0, 0.004)
                attrs = {QUESTION_STRATUM: name, QUESTION_LEVEL: label, QUESTION_REPEAT: r}
                study.add_trial(optuna.trial.create_trial(values=[value, 100.0], user_attrs=attrs))
    return study


def test_known_effect_is_found_and_a_null_one_is_not():
    rng = np.random.default_rng(7)
    study = _study([0.8, 0.5, 0.2], {"s": ([0.0, 0.02, 0.0], 0.03)}, seeds=6, rng=rng)
    report = answer_questions(study)
    assert report is not None
    s = report.strata[0].stats
    assert s.best == "0.5" and s.reference == "0.8"
    t05, t02 = s.tests
    assert t05.label == "0.5" and t05.significant and t05.mean_diff > 0 and t05.ci_low > 0
    assert abs(t05.mean_diff - 0.02) < 0.01
    assert t02.label == "0.2" and not t02.significant
    text = "\n".join(report.lines)
    assert "significantly higher than 0.8: 0.5" in text and "no significant difference: 0.2" in text
    unpaired = mean_ci(np.array([e.mean for e in s.levels]))  # the seed spread hides it without pairing
    assert math.isfinite(unpaired[0])

    null = answer_questions(_study([0.8, 0.5, 0.2], {"s": ([0.0, 0.0, 0.0], 0.03)}, seeds=6, rng=rng))
    assert null is not None and not any(t.significant for t in null.strata[0].stats.tests)
    assert any("no significant difference between any level and the reference 0.8" in line for line in null.lines)
    summary = json.loads(json.dumps(null.as_dict()))
    assert summary["question"]["reference"] == "0.8" and summary["strata"][0]["tests"][0]["significant"] is False


def test_planted_interaction_is_detected_and_absent_one_is_not():
    rng = np.random.default_rng(3)
    crossed = {"a": ([0.0, 0.02, 0.0], 0.02), "b": ([0.0, -0.02, 0.0], 0.02)}
    report = answer_questions(_study([0.8, 0.5, 0.2], crossed, seeds=5, rng=rng))
    assert report is not None and report.interaction is not None
    assert report.interaction.significant and (report.interaction.df1, report.interaction.df2) == (2, 16)
    assert [s.stats.best for s in report.strata] == ["0.5", "0.8"]
    assert any("it changes across strata" in line for line in report.lines)

    parallel = {"a": ([0.0, 0.02, 0.0], 0.02), "b": ([0.0, 0.02, 0.0], 0.02)}
    same = answer_questions(_study([0.8, 0.5, 0.2], parallel, seeds=5, rng=rng))
    assert same is not None and same.interaction is not None and not same.interaction.significant
    assert any("no significant difference in the level's effect across strata" in line for line in same.lines)


def test_interaction_f_matches_a_linear_model_comparison():
    """The split-plot F equals the F of nested least-squares models: seed + level vs seed + level + stratum:level."""
    rng = np.random.default_rng(11)
    ys = [rng.normal(0.0, 1.0, (4, 3)) + rng.normal(0.0, 1.0, (4, 1)) for _ in range(3)]
    ys[0][:, 1] += 1.0
    got = interaction_test(ys)
    assert got is not None
    y = np.concatenate([v.ravel() for v in ys])
    rows = [(s * 4 + r, lv, s) for s in range(3) for r in range(4) for lv in range(3)]

    def design(full: bool) -> np.ndarray:
        x = np.zeros((len(rows), 12 + 2 + (4 if full else 0)))
        for i, (subject, lv, s) in enumerate(rows):
            x[i, subject] = 1
            if lv:
                x[i, 12 + lv - 1] = 1
                if full and s:
                    x[i, 14 + (s - 1) * 2 + lv - 1] = 1
        return x

    def rss(x: np.ndarray) -> float:
        return float(((y - x @ np.linalg.lstsq(x, y, rcond=None)[0]) ** 2).sum())

    full, reduced = rss(design(True)), rss(design(False))
    df2 = len(y) - np.linalg.matrix_rank(design(True))
    assert (got.df1, got.df2) == (4, df2)
    assert got.f == pytest.approx(((reduced - full) / 4) / (full / df2), rel=1e-9)


def test_holm_ci_and_edge_cases():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, math.nan])[1]) and holm([0.01, math.nan])[0] == pytest.approx(0.01)
    mean, low, high = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and (low, high) == pytest.approx((2.0 - 2.4841377, 2.0 + 2.4841377), rel=1e-6)
    same = stratum_stats(np.array([[0.5, 0.5], [0.6, 0.6]]), ["a", "b"], 0, maximize=True)
    assert same.tests[0].t_p == 1.0 and not same.tests[0].significant  # identical levels: no difference
    gap = stratum_stats(np.array([[0.5, np.nan], [0.6, 0.7]]), ["a", "b"], 0, maximize=True)
    assert gap.levels[1].n == 1 and gap.tests[0].n == 1 and math.isnan(gap.tests[0].t_p)


def test_no_question_no_answer(tmp_path):
    study = optuna.create_study()
    assert answer_questions(study) is None
    study.set_user_attr("space", yaml.safe_load(small_space(tmp_path, "plain").read_text()))
    assert answer_questions(study) is None


def test_a_stratum_overrides_family_knobs_training_and_dataset():
    space = load_space(REPO / "spaces" / "questions" / "sparselut_T.yaml")
    config = {"family": "neuralut", "params": {"widths": [32], "hidden_width": 8}, "train": {"batch_size": 64}}
    config["dataset"] = space.dataset
    attrs = {QUESTION_STRATUM: "polylut-m-jsc", QUESTION_LEVEL: "1.0", QUESTION_REPEAT: 0}
    out = apply_question(space, config, attrs)
    assert out["family"] == "polylut" and out["params"]["widths"] == [64, 32] and out["params"]["sparse_T"] == 0.99
    assert out["train"]["batch_size"] == 256 and out["dataset"]["name"] == "jsc"
    assert out["dataset"]["options"] == {"variant": "pythia", "test_fraction": 0.8}
    assert config["params"] == {"widths": [32], "hidden_width": 8}  # the sampled config is left as it was
    assert apply_question(space, config, {}) is config  # not a question trial
