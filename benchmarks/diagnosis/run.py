"""Prove the diagnosis: injected faults, fault-free twins, our labels against AUTOTRAINER's and BTTackler's rules.

    python benchmarks/diagnosis/run.py            # 11 fault types x 5 seeds, healthy controls (~15 min, 2 cores)
    python benchmarks/diagnosis/run.py --quick    # 6 fault types x 2 seeds, 10 epochs (~3 min)

Every fault run has a twin (same seed and data, fault removed). A fault run counts as truly faulty only
when the twin says so (its val accuracy clearly below the twin's, or a NaN), and the twins and the
healthy controls are the healthy runs of the false-alarm rate. The same histories are then labelled by
gridsearch.diagnosis.rules.diagnose and by the two re-implemented baselines (baselines.py). Then the advice of
every truly faulty run is applied the way gridsearch applies it (`top_advice`, `apply_remedy`): the top-1
alone, and the doctor's chain of stages (`doctor`). The tables are printed and written to
benchmarks/DIAGNOSIS.md. Trained runs are cached by config in --cache, so a rerun after a change of the
rules retrains nothing.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from statistics import median
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import baselines  # noqa: E402
import faults  # noqa: E402

CLEAR_DROP = 0.05  # a fault must cost >= 5 points of val accuracy vs its twin (seed-to-seed spread is ~1-2 points)
OVERFIT_CONFIRM = 1.2  # judgment: or, for faults confirmed by loss, end with a val loss >= 1.2x the twin's ...
OVERFIT_CONFIRM_MIN = 0.1  # ... and >= 0.1 x ln C above it: 0.009 vs 0.00003 is a large ratio of two zeros
FIXED_WITHIN = 0.02  # the bar: the remedied run's val accuracy within 2 points of the twin's
SCORE_EPOCHS = 3  # a run's score is the median val accuracy of its last 3 epochs: one noisy epoch cannot decide
FULL = {"name": "full", "seeds": 5, "epochs": 15, "faults": [f.name for f in faults.FAULTS], "healthy": list(faults.HEALTHY_VARIANTS)}
QUICK = {"name": "quick", "seeds": 2, "epochs": 10, "healthy": [],
         "faults": ["lr_too_high", "lr_too_low", "unscaled_inputs", "dead_relu", "tiny_wide_overfit", "nan_bad_op"]}
TOOLS = ("gridsearch", "AUTOTRAINER", "BTTackler", "BTTackler w/o NMG")
TARGETS = {"nan": 0.9, "diverging": 0.9, "stuck_at_chance": 0.9, "bad_initial_loss": 0.9,
           "overfitting": 0.8, "plateau": 0.8, "too_slow": 0.8, "oscillating": 0.8}  # from issue 12
FALSE_ALARM_TARGET = 0.05
ADVICE_TARGET = 0.7
DOCTOR_TARGET = 0.9
DOCTOR_STAGES = 3  # judgment: the doctor's stages measured per fault (after lint's fix), to bound the reruns


# --- training ----------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One trained config and everything the tools read from it."""

    cfg: dict[str, Any]
    seed: int
    history: dict[str, list[float]]
    num_classes: int
    signals: dict[str, Any]  # extra inputs diagnose may take (initial_loss, majority_rate, probe stats ...)
    facts: dict[str, Any]  # loss name, output units, last activation (AUTOTRAINER's static checks)
    weights_nan: bool
    seconds: float

    @property
    def nan(self) -> bool:
        return any(not math.isfinite(v) for name in ("loss", "val_loss") for v in self.history[name])

    @property
    def score(self) -> float:
        """Median val accuracy of the last epochs; a run whose loss went NaN scores 0."""
        return 0.0 if self.nan else median(self.history["val_accuracy"][-SCORE_EPOCHS:])

    @property
    def final_val_loss(self) -> float:
        return median(self.history["val_loss"][-SCORE_EPOCHS:])


def _key(cfg: Mapping[str, Any], seed: int) -> str:
    return json.dumps({**cfg, "seed": seed}, sort_keys=True)


def _aligned(history: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """TerminateOnNaN can stop before validation: pad short series with NaN so every tool sees equal lengths."""
    n = max(len(v) for v in history.values())
    return {k: [float(x) for x in v] + [math.nan] * (n - len(v)) for k, v in history.items()}


class Trainer:
    """Trains configs once; `cache` (a JSON file) keeps every run across invocations."""

    def __init__(self, cache: Path | None) -> None:
        self.cache_path = cache
        self.runs: dict[str, Run] = {}
        if cache and cache.exists():
            self.runs = {k: Run(**v) for k, v in json.loads(cache.read_text()).items()}
        self._data: dict[tuple[str, int], Any] = {}
        self._lint: dict[str, list[tuple[str, str]]] = {}
        self.trained = self.reused = 0
        self.used: set[str] = set()

    def __call__(self, cfg: dict[str, Any], seed: int) -> Run:
        key = _key(cfg, seed)
        self.used.add(key)
        if key in self.runs and "probes" in self.runs[key].signals:  # runs cached before the probes: trained again
            self.reused += 1
            run = self.runs[key]
            if "train_only" not in run.signals:  # cached before it was recorded: a fact of the untrained model
                from gridsearch.training.lint import training_only_layers

                run.signals["train_only"] = training_only_layers(self._untrained_model(run))
                self._save()
            return run
        self.runs[key] = self._train(cfg, seed)
        self.trained += 1
        self._save()
        return self.runs[key]

    def _save(self) -> None:
        if self.cache_path:
            self.cache_path.write_text(json.dumps({k: asdict(r) for k, r in self.runs.items()}))

    @property
    def training_seconds(self) -> float:
        """What the runs of this benchmark cost to train, whether trained now or read from the cache."""
        return sum(self.runs[key].seconds for key in self.used)

    def _train(self, cfg: dict[str, Any], seed: int) -> Run:
        import keras
        import numpy as np

        from gridsearch.training.lint import training_only_layers
        from gridsearch.training.probes import ProbeCallback

        data = self._dataset(cfg, seed)
        x_train, y_train, x_val, y_val = faults.prepare_data(cfg, data, seed)
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = faults.build_model(cfg, x_train.shape[1:], data.num_classes)
        start = time.perf_counter()
        initial_loss = float(model.evaluate(x_train, y_train, verbose=0, return_dict=True)["loss"])
        probe = ProbeCallback(x_train, y_train, data.num_classes, seed=seed)
        callbacks: list[Any] = [keras.callbacks.TerminateOnNaN(), probe]
        if cfg["lr_schedule"] == "reduce_on_plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2))
        fit = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=cfg["epochs"],
                        batch_size=cfg["batch_size"], verbose=0, callbacks=callbacks)
        weights_nan = any(not np.isfinite(w).all() for w in model.get_weights())
        history = _aligned({k: v for k, v in fit.history.items() if k != "learning_rate"})
        return Run(dict(cfg), seed, history, data.num_classes,
                   {"initial_loss": initial_loss, "majority_rate": data.majority_rate, "probes": probe.stats(),
                    "train_only": training_only_layers(model)},
                   faults.model_facts(model, cfg), weights_nan, round(time.perf_counter() - start, 2))

    def _dataset(self, cfg: Mapping[str, Any], seed: int) -> Any:
        if (cfg["dataset"], seed) not in self._data:
            self._data[(cfg["dataset"], seed)] = faults.load(cfg["dataset"], seed)
        return self._data[(cfg["dataset"], seed)]

    def lint(self, run: Run) -> list[tuple[str, str]]:
        """Model lint's (check, severity) findings other than ok for the run's model, built now and not trained,
        so that a change of the rules needs no retraining."""
        from gridsearch.training.lint import OK, lint_model

        key = _key(run.cfg, run.seed)
        if key not in self._lint:
            model = self._untrained_model(run)
            self._lint[key] = [(f.check, f.severity) for f in lint_model(model, run.num_classes) if f.severity != OK]
        return self._lint[key]

    def _untrained_model(self, run: Run) -> Any:
        data = self._dataset(run.cfg, run.seed)
        x_train = faults.prepare_data(run.cfg, data, run.seed)[0]
        return faults.build_model(run.cfg, x_train.shape[1:], data.num_classes)


# --- labelling -----------------------------------------------------------------------------------------------------
def diagnose_run(history: Mapping[str, Sequence[float]], run: Run) -> Any:
    """diagnose() with the extra signals its signature accepts: a probe-stats argument added to diagnose later
    is passed as soon as the run records it under that name, and older signatures are not broken by it."""
    from gridsearch.diagnosis.rules import diagnose

    accepted = inspect.signature(diagnose).parameters
    signals = {k: v for k, v in run.signals.items() if k in accepted}
    if signals.get("probes"):  # a prefix of the history sees the probe epochs of that prefix only
        epochs = len(history["loss"])
        signals["probes"] = {**signals["probes"], "epochs": [row for row in signals["probes"].get("epochs", [])
                                                             if row["epoch"] <= epochs]}
    return diagnose(history, run.num_classes, **signals)


def head(history: Mapping[str, Sequence[float]], epochs: int) -> dict[str, list[float]]:
    return {k: list(v[:epochs]) for k, v in history.items()}


@dataclass
class Verdicts:
    """Each tool's reading of one run: our labels it stands for, and the 1-based epoch it first said so."""

    primary: str  # gridsearch's primary label (or the baseline's own problems, joined)
    labels: frozenset[str]
    epoch: int | None
    causes: tuple[str, ...] = ()  # gridsearch: the probe batch's cause flags
    cause: str = ""  # gridsearch: the diagnosis' cause


def ours(run: Run, acceptable: Iterable[str]) -> Verdicts:
    """Primary label of the whole run; detection epoch = the first prefix whose primary label is acceptable."""
    diagnosis = diagnose_run(run.history, run)
    label = diagnosis.label.value
    acceptable = set(acceptable)
    epoch = next((k for k in range(1, len(run.history["loss"]) + 1)
                  if diagnose_run(head(run.history, k), run).label.value in acceptable), None)
    return Verdicts(label, frozenset({label}), epoch, tuple(c.label.value for c in diagnosis.causes), diagnosis.cause)


def baseline(tool: str, run: Run) -> Verdicts:
    epochs = run.cfg["epochs"]
    if tool == "AUTOTRAINER":
        verdict = baselines.autotrainer(run.history, run.facts, max_epochs=epochs, weights_nan=run.weights_nan)
        mapping = baselines.AT_MEANS
    else:
        symptoms = baselines.BTT_SYMPTOMS if tool == "BTTackler" else tuple(
            s for s in baselines.BTT_SYMPTOMS if s != "NMG")
        verdict = baselines.bttackler(run.history, max_epochs=epochs, symptoms=symptoms)
        mapping = baselines.BTT_MEANS
    labels = verdict.labels(mapping)
    return Verdicts("+".join(verdict.problems) or "healthy", labels or frozenset({"healthy"}), verdict.epoch)


def read(tool: str, run: Run, acceptable: Iterable[str]) -> Verdicts:
    return ours(run, acceptable) if tool == "gridsearch" else baseline(tool, run)


# --- the corpus ----------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """A scored run: a fault run (with its twin) or a healthy one."""

    name: str  # fault name, or "healthy"
    seed: int
    run: Run
    acceptable: tuple[str, ...]  # for a healthy run: ("healthy",)
    twin: Run | None = None
    confirmed: bool = True  # fault runs: did the twin confirm the fault
    verdicts: dict[str, Verdicts] = field(default_factory=dict)
    remedy: str | None = None
    fixed: bool | None = None  # None: not a confirmed fault
    doctor_steps: list[str] = field(default_factory=list)
    doctor_fixed: bool | None = None
    guided_steps: list[str] = field(default_factory=list)  # the doctor, with its fixes outside the search done
    guided_fixed: bool | None = None

    @property
    def healthy(self) -> bool:
        return self.name == "healthy"

    def correct(self, tool: str) -> bool:
        return bool(self.verdicts[tool].labels & set(self.acceptable))


def confirmed(fault: faults.Fault, run: Run, twin: Run) -> bool:
    if run.nan or run.score <= twin.score - CLEAR_DROP:
        return True
    margin = OVERFIT_CONFIRM_MIN * math.log(run.num_classes)
    return fault.confirm_by_loss and run.final_val_loss >= max(OVERFIT_CONFIRM * twin.final_val_loss,
                                                               twin.final_val_loss + margin)


def build_corpus(setup: Mapping[str, Any], train: Callable[[dict[str, Any], int], Run],
                 log: Callable[[str], None]) -> list[Case]:
    cases: list[Case] = []
    twins: dict[str, Run] = {}
    for seed in range(setup["seeds"]):
        base = train(faults.twin_config(None, seed, setup["epochs"]), seed)
        for name in setup["faults"]:
            fault = faults.FAULTS_BY_NAME[name]
            twin = train(faults.twin_config(fault, seed, setup["epochs"]), seed)
            if twin.score >= base.score - FIXED_WITHIN:  # a twin is a healthy run only if it reaches the base twin
                twins[_key(twin.cfg, seed)] = twin
            run = train(faults.fault_config(fault, seed, setup["epochs"]), seed)
            cases.append(Case(name, seed, run, fault.labels, twin, confirmed(fault, run, twin)))
            log(f"seed {seed} {name:20s} score {run.score:.3f} (twin {twin.score:.3f}) "
                f"{'confirmed' if cases[-1].confirmed else 'NOT confirmed'}")
        for variant in setup["healthy"]:
            run = train({**faults.twin_config(None, seed, setup["epochs"]), **faults.HEALTHY_VARIANTS[variant]}, seed)
            if run.score >= base.score - FIXED_WITHIN:
                twins[_key(run.cfg, seed)] = run
            log(f"seed {seed} healthy {variant:12s} score {run.score:.3f} (base {base.score:.3f})")
    return cases + [Case("healthy", twin.seed, twin, ("healthy",)) for twin in twins.values()]


def label_all(cases: list[Case]) -> None:
    for case in cases:
        for tool in TOOLS:
            case.verdicts[tool] = read(tool, case.run, case.acceptable)


def top_advice(run: Run, trainer: Trainer) -> str | None:
    """The first thing gridsearch tells the user to change: lint's first finding (printed before any training;
    an error stops the run), else the diagnosis' first remedy (its cause's row of doctor.REMEDIES, else its label's)."""
    from gridsearch.plans.doctor import first_remedy

    lint = trainer.lint(run)
    if lint:
        return lint[0][0]
    return first_remedy(diagnose_run(run.history, run).to_dict())


def apply_remedy(remedy: str, run: Run, train: Callable[[dict[str, Any], int], Run]) -> Run | None:
    """A fix as one rerun, a tuning remedy as the doctor's stage: its new grid points, the best by val accuracy
    (the current config stays in, as in the doctor's grid). None where the corpus cannot express the remedy."""
    configs = faults.remedy_configs(remedy, run.cfg)
    if not configs:
        return None
    return max([run, *(train(cfg, run.seed) for cfg in configs)], key=lambda r: r.score)


def doctor(case: Case, train: Trainer, outside: bool = False) -> tuple[Run, list[str]]:
    """What `gridsearch doctor` does to the fault: lint's fix first (the run refuses to start otherwise), then up
    to DOCTOR_STAGES stages chosen by doctor.choose_next from each winner's diagnosis. The doctor tunes only;
    with `outside`, a fix outside the search that comes first in a row (the labels, an op) is done as well, as
    a user does who follows the doctor's reasons."""
    from gridsearch.plans.doctor import REMEDY_STAGES, Option, choose_next, labels_of

    remedies = [*REMEDY_STAGES, *(faults.FIXES if outside else ())]

    current, steps = case.run, []
    lint = [finding for finding in train.lint(current) if finding[1] == "error"]
    if lint:
        current = apply_remedy(lint[0][0], current, train) or current
        steps.append(lint[0][0])
    used: set[str] = set()
    for _ in range(DOCTOR_STAGES):
        options = [Option(name, {}, frozenset({name})) for name in remedies
                   if name not in used and faults.remedy_configs(name, current.cfg)]
        choice = choose_next(labels_of(diagnose_run(current.history, current).to_dict()), options)
        if choice is None:
            break
        used.add(choice.remedy)
        steps.append(choice.remedy)
        current = apply_remedy(choice.remedy, current, train) or current
    return current, steps


def apply_advice(cases: list[Case], train: Trainer) -> None:
    """For every confirmed fault: the top-1 advice applied, and the doctor's run; fixed = within 2 points of the twin."""
    for case in cases:
        if case.healthy or not case.confirmed:
            continue
        remedy = top_advice(case.run, train)
        result = apply_remedy(remedy, case.run, train) if remedy else None
        case.remedy = remedy or f"{case.verdicts['gridsearch'].primary}: none"
        case.fixed = result is not None and result.score >= case.twin.score - FIXED_WITHIN
        final, case.doctor_steps = doctor(case, train)
        case.doctor_fixed = final.score >= case.twin.score - FIXED_WITHIN
        final, case.guided_steps = doctor(case, train, outside=True)
        case.guided_fixed = final.score >= case.twin.score - FIXED_WITHIN


# --- scoring -------------------------------------------------------------------------------------------------------
def scored(cases: list[Case]) -> list[Case]:
    """The runs that have a ground truth: confirmed faults and healthy runs."""
    return [c for c in cases if c.healthy or c.confirmed]


def pct(k: int, n: int) -> str:
    return f"{k}/{n} ({k / n:.0%})" if n else "n/a"


def false_alarms(cases: list[Case], tool: str) -> tuple[int, int]:
    healthy = [c for c in cases if c.healthy]
    return sum(not c.correct(tool) for c in healthy), len(healthy)


def label_recall(cases: list[Case], label: str, tool: str = "gridsearch") -> tuple[int, int, int]:
    """Runs whose fault expects `label` (its first acceptable label): (detected acceptably, exactly, all)."""
    runs = [c for c in scored(cases) if not c.healthy and c.acceptable[0] == label]
    return (sum(c.correct(tool) for c in runs), sum(c.verdicts[tool].primary == label for c in runs), len(runs))


def label_precision(cases: list[Case], label: str) -> tuple[int, int]:
    said = [c for c in scored(cases) if c.verdicts["gridsearch"].primary == label]
    return sum(label in c.acceptable for c in said), len(said)


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def median_epoch(cases: Sequence[Case], tool: str) -> str:
    epochs = [c.verdicts[tool].epoch for c in cases if c.correct(tool) and c.verdicts[tool].epoch is not None]
    return f"{median(epochs):g}" if epochs else "-"


def report(cases: list[Case], setup: Mapping[str, Any], names: Sequence[str], trainer: Trainer) -> list[str]:
    truth = scored(cases)
    faulty = [c for c in truth if not c.healthy]
    healthy = [c for c in truth if c.healthy]
    epochs = setup["epochs"]
    quick = setup["name"] == "quick"
    out = [f"# Diagnosis benchmark{' (quick)' if quick else ''}", "",
           f"{date.today()} on {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
           f"{len(names)} fault types x {setup['seeds']} seeds, {epochs} epochs, small CNNs on 8x8 digits (even "
           f"seeds) and generated shapes (odd seeds); {len(faults.HEALTHY_VARIANTS) if setup['healthy'] else 0} "
           f"healthy control settings; {len(trainer.used)} training runs, {trainer.training_seconds / 60:.0f} min of "
           f"training in all (median {median(trainer.runs[k].seconds for k in trainer.used):.0f} s a run, on a machine "
           f"shared with other jobs). Regenerate with `python benchmarks/diagnosis/run.py"
           f"{' --quick' if quick else ''}`.", "",
           "Ground truth comes from twins, never from the rules under test: a fault run counts as faulty only if its "
           f"val accuracy (median of the last {SCORE_EPOCHS} epochs) is >= {CLEAR_DROP * 100:.0f} points below its "
           f"fault-free twin's or its loss went NaN (overfitting: or its val loss ends >= {OVERFIT_CONFIRM}x and "
           f">= {OVERFIT_CONFIRM_MIN} ln C above the twin's); twins and healthy controls that reach the base twin (within 2 points) are the healthy runs. A tool detects a "
           "fault when its label is one the fault type accepts (gridsearch: the primary label; a baseline: any of "
           "its problems, mapped onto our labels as in baselines.py).", "",
           "## Tools on identical runs", ""]
    rows = []
    for name in names:
        runs = [c for c in faulty if c.name == name]
        fault = faults.FAULTS_BY_NAME[name]
        manifested = sum(c.confirmed for c in cases if c.name == name)
        rows.append([name, f"{manifested}/{sum(c.name == name for c in cases)}", ", ".join(fault.labels),
                     *(f"{sum(c.correct(t) for c in runs)}/{len(runs)} @{median_epoch(runs, t)}" for t in TOOLS)])
    rows.append(["**all faults**", f"{len(faulty)}/{sum(not c.healthy for c in cases)}", "",
                 *(f"**{pct(sum(c.correct(t) for c in faulty), len(faulty))}**" for t in TOOLS)])
    rows.append(["**false alarms on healthy runs**", str(len(healthy)), "",
                 *(f"**{pct(*false_alarms(cases, t))}**" for t in TOOLS)])
    out += md_table(["fault", "confirmed", "acceptable labels", *TOOLS], rows)
    out += ["", "Cells: runs detected / confirmed runs, @ median epoch of first detection (gridsearch: the first "
            "prefix of the history whose primary label is acceptable; baselines: the epoch their online rules first "
            f"fire) out of {epochs} ({faults.TINY_EPOCHS} for tiny_wide_overfit). Not recorded, so never firing here: AUTOTRAINER "
            f"{baselines.NOT_RECORDED['AUTOTRAINER']}; BTTackler {baselines.NOT_RECORDED['BTTackler']}. "
            "BTTackler w/o NMG drops the no-more-gain symptom, which its own code calls useless.", "",
            "## gridsearch per label", ""]
    rows = []
    for label in TARGETS:
        hit, exact, n = label_recall(cases, label)
        correct, said = label_precision(cases, label)
        met = "n/a" if not n else ("met" if hit / n >= TARGETS[label] else "**missed**")
        rows.append([label, pct(correct, said), pct(hit, n), pct(exact, n), f">= {TARGETS[label]:.0%}", met])
    correct, said = label_precision(cases, "healthy")
    fa, nh = false_alarms(cases, "gridsearch")
    rows.append(["healthy", pct(correct, said), pct(nh - fa, nh), pct(nh - fa, nh),
                 f"false alarms <= {FALSE_ALARM_TARGET:.0%}",
                 "met" if nh and fa / nh <= FALSE_ALARM_TARGET else "**missed**"])
    out += md_table(["label", "precision", "recall (acceptable)", "recall (exact)", "target", ""], rows)
    out += ["", "Recall of a label is over the confirmed runs of the fault types that expect it (the first acceptable "
            "label in the table above); 'acceptable' counts any acceptable label, 'exact' only that one. Precision "
            "is over every scored run given the label.", "", "## Confusion matrix (gridsearch primary label)", ""]
    predicted = sorted({c.verdicts["gridsearch"].primary for c in truth})
    rows = []
    for name in [*names, "healthy"]:
        counts = Counter(c.verdicts["gridsearch"].primary for c in truth if c.name == name)
        rows.append([name, *(counts.get(p, "") for p in predicted)])
    out += md_table(["expected \\ predicted", *predicted], rows)
    out += ["", "## Probe cause flags and causes", "",
            "The probe batch's cause flags (probes.py: gradient norms, dead and saturated units, never gated on "
            "accuracy) and the cause the diagnosis names (its advice starts with the cause's), per run type.", ""]
    flags = ("vanishing_gradients", "exploding_gradients", "dead_units", "saturated_units")
    rows = []
    for name in [*names, "healthy"]:
        runs = [c for c in truth if c.name == name]
        said = Counter(c.verdicts["gridsearch"].cause for c in runs if c.verdicts["gridsearch"].cause)
        rows.append([name, len(runs), *(sum(flag in c.verdicts["gridsearch"].causes for c in runs) or "" for flag in flags),
                     ", ".join(f"{cause} x{n}" for cause, n in said.most_common())])
    out += md_table(["runs", "n", *flags, "cause"], rows)
    remedied = [c for c in faulty if c.fixed is not None]
    fixed = sum(bool(c.fixed) for c in remedied)
    doctored = sum(bool(c.doctor_fixed) for c in remedied)
    guided = sum(bool(c.guided_fixed) for c in remedied)
    out += ["", "## Advice efficacy", "",
            "The advice applied the way gridsearch applies it, and rerun; fixed = val accuracy within "
            f"{FIXED_WITHIN * 100:.0f} points of the twin's. **Top-1**: the first thing gridsearch tells the user to "
            "change: model lint's first finding (printed before training; an error stops the run), else the first "
            "remedy of the diagnosis (the row of its cause in doctor.REMEDIES, else of its label). A fix outside the "
            "search (lint's, the labels, an op) is one rerun with it; a tuning remedy is the doctor's stage for it "
            "(its new grid points, the best by val accuracy). **Doctor**: lint's error fixed first (the run refuses "
            f"to start otherwise), then up to {DOCTOR_STAGES} stages chosen by doctor.choose_next from each winner's "
            "diagnosis, tuning remedies only (the doctor skips a fix outside the search). **Doctor + fixes**: the "
            "same, with the fixes outside the search that its rows name first done too (as a user who follows the "
            "doctor's reasons).", "",
            f"Top-1 target >= {ADVICE_TARGET:.0%}: {pct(fixed, len(remedied))}, "
            f"{'met' if remedied and fixed / len(remedied) >= ADVICE_TARGET else '**missed**'}. Doctor target >= "
            f"{DOCTOR_TARGET:.0%}: {pct(doctored, len(remedied))}, "
            f"{'met' if remedied and doctored / len(remedied) >= DOCTOR_TARGET else '**missed**'}; with the fixes "
            f"outside the search: {pct(guided, len(remedied))}.", ""]
    rows = []
    for name in names:
        runs = [c for c in remedied if c.name == name]
        advice = Counter(c.remedy for c in runs)
        paths = Counter(" -> ".join(c.doctor_steps) or "(nothing to try)" for c in runs)
        guided_paths = Counter(" -> ".join(c.guided_steps) or "(nothing to try)" for c in runs)
        rows.append([name, pct(sum(bool(c.fixed) for c in runs), len(runs)),
                     ", ".join(f"{remedy} x{n}" for remedy, n in advice.most_common()),
                     pct(sum(bool(c.doctor_fixed) for c in runs), len(runs)),
                     "; ".join(f"{path} x{n}" for path, n in paths.most_common()),
                     pct(sum(bool(c.guided_fixed) for c in runs), len(runs)),
                     "; ".join(f"{path} x{n}" for path, n in guided_paths.most_common())])
    out += md_table(["fault", "top-1 fixed", "top-1 advice applied", "doctor fixed", "doctor's stages",
                     "doctor + fixes", "its stages"], rows)
    out += ["", *targets(cases, remedied, fixed, doctored)]
    return out


def targets(cases: list[Case], remedied: list[Case], fixed: int, doctored: int) -> list[str]:
    """Issue 12's targets, met or missed, and for a miss where its runs went instead."""
    lines = ["## Targets (issue 12)", ""]
    fa, nh = false_alarms(cases, "gridsearch")
    wrong = Counter(c.verdicts["gridsearch"].primary for c in cases if c.healthy and not c.correct("gridsearch"))
    lines.append(f"- false alarms on healthy runs <= {FALSE_ALARM_TARGET:.0%}: {pct(fa, nh)}, "
                 f"{'met' if nh and fa / nh <= FALSE_ALARM_TARGET else 'missed'}"
                 + (f" (labelled {', '.join(f'{k} x{n}' for k, n in wrong.most_common())})" if wrong else ""))
    for label, target in TARGETS.items():
        hit, _, n = label_recall(cases, label)
        if not n:
            lines.append(f"- recall {label} >= {target:.0%}: no fault type expects it, not measured")
            continue
        missed = Counter(f"{c.name} -> {c.verdicts['gridsearch'].primary}" for c in scored(cases)
                         if not c.healthy and c.acceptable[0] == label and not c.correct("gridsearch"))
        lines.append(f"- recall {label} >= {target:.0%}: {pct(hit, n)}, {'met' if hit / n >= target else 'missed'}"
                     + (f" (missed: {', '.join(f'{k} x{m}' for k, m in missed.most_common())})" if missed else ""))
    lines.append(f"- top-1 advice fixes >= {ADVICE_TARGET:.0%} of the faults: {pct(fixed, len(remedied))}, "
                 f"{'met' if remedied and fixed / len(remedied) >= ADVICE_TARGET else 'missed'}")
    lines.append(f"- the doctor's run fixes >= {DOCTOR_TARGET:.0%} of the faults: {pct(doctored, len(remedied))}, "
                 f"{'met' if remedied and doctored / len(remedied) >= DOCTOR_TARGET else 'missed'}")
    lines.append("- not measured here: sibling pruning (>= 40 % of epochs saved), see benchmarks/pruning.py")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 fault types, 2 seeds, 10 epochs (~3 min)")
    parser.add_argument("--seeds", type=int, help="seeds per fault type (default: 5, quick: 2)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/gridsearch-diagnosis-runs.json"),
                        help="JSON file of trained runs, reused by later invocations")
    parser.add_argument("--out", type=Path, help="markdown file (default benchmarks/DIAGNOSIS[_quick].md)")
    args = parser.parse_args(argv)
    setup = QUICK if args.quick else FULL
    if args.seeds:
        setup = {**setup, "seeds": args.seeds}
    trainer = Trainer(args.cache)
    cases = build_corpus(setup, trainer, lambda line: print(line, flush=True))
    label_all(cases)
    apply_advice(cases, trainer)
    lines = report(cases, setup, setup["faults"], trainer)
    print("\n".join(lines))
    out = args.out or HERE.parent / ("DIAGNOSIS_quick.md" if args.quick else "DIAGNOSIS.md")
    out.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out} ({trainer.trained} runs trained, {trainer.reused} reused from {args.cache})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
