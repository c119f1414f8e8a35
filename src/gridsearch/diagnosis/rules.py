"""Label a finished trial from its per-epoch history: one primary label, advice, evidence.

The rules are the hand-set thresholds of the research tools (AUTOTRAINER, TheDeepChecker,
BTTackler, UMLAUT) with their false alarms on healthy runs designed out; they read curves.Curves
(smoothed, slopes over the tail, changes against a loss floor). No rule is gated on a fixed accuracy
target; chance level (max(1/C, majority share)) and the share of the chance-to-perfect range reached
("fit") stand in for it. The shapes of logs made elsewhere (val_above_train, stuck at the majority share,
a blow-up in epoch 1 under any later curve) were designed on the real-log corpus' design part only
(benchmarks/diagnosis/real; its held-out part scores them).

When several labels hold, the first in PRIORITY is the primary one and the others are flags. On a log made
elsewhere, unless a mechanism decided that label (nan, diverging, too few epochs), a forest trained on real logs may
overrule it (second_opinion.py: why, and how that scored on held-out logs); the rules' label and evidence stay in
the message.
Given probes.py's stats of a fixed probe batch, causes.find_causes adds cause flags (vanishing or exploding
gradients, dead or saturated units); they are never primary. A diagnosis also names its `cause` when the
evidence tells (labels.CAUSE_*): a blow-up in epoch 1 whatever the curve does afterwards, dead units, a stuck
model whose insides work; the advice starts with the cause's own, and the doctor (doctor.REMEDIES) tunes for
the cause first. Epochs in messages are numbered as the log numbers them (Curves.first_epoch).
`find_nan`, `find_diverging` and `find_stuck_at_chance` are also what pruning.py stops on,
so a pruned trial is stopped by exactly the rule that labels it afterwards.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gridsearch.diagnosis.causes import INPUT_SCALE_LIMIT, find_causes, with_probe_cause
from gridsearch.diagnosis.curves import (
    BAD_INITIAL_LOSS_RATIO,
    CHANCE_MARGIN,
    KERAS_MAX_LOSS,
    MIN_EPOCHS,
    SMOOTH_WINDOW,
    TAIL_EPOCHS,
    Curves,
    chance_ceiling,
    is_bad_initial_loss,
    smooth,
)
from gridsearch.diagnosis.labels import CAUSE_BLEW_UP, CAUSE_UNTRAINED_NAN, PRIORITY, Diagnosis, Label, confidence
from gridsearch.diagnosis.second_opinion import OVERRULABLE, TABLE_WITHOUT_CLASSES, opinion, overrules, table_for

__all__ = ["BAD_INITIAL_LOSS_RATIO", "INPUT_SCALE_LIMIT", "MIN_EPOCHS", "NEEDS_CLASSES", "PRIORITY", "Curves",
           "Diagnosis", "Label", "chance_ceiling", "diagnose", "find_causes", "find_diverging", "find_nan",
           "find_stuck_at_chance", "forest_may_judge", "forest_overrules", "is_bad_initial_loss"]

# Each label's advice where no number of the run sharpens it (the second opinion names labels no rule found): what
# to do, and no claim about the curve beyond the label's own meaning, which the evidence beside it may not show.
# Every label the forest may name (OVERRULABLE) has one: without data_suspect's, a log whose forest named it and
# whose rules did not (q018, y029, 40c011 of the corpus) raised a KeyError from diagnose.
ADVICE = {
    Label.HEALTHY: "no problem found: keep this setting",
    Label.OVERFITTING: "add regularization (dropout, L2, batch normalization, input noise) or more data",
    Label.TOO_SLOW: "raise the learning rate (e.g. 3x) or train for more epochs",
    Label.PLATEAU: "lower the learning rate 3-10x or the batch size, or add ReduceLROnPlateau; if the training "
                   "accuracy stays low, use a larger model",
    Label.OSCILLATING: "lower the learning rate 3-10x or use a larger batch, and check that the validation set is not "
                       "tiny",
    Label.VAL_ABOVE_TRAIN: "the training data is harder than the validation data: check the augmentation, dropout and "
                           "noise that act only in training (too strong?), the training labels (noisy?) and whether "
                           "validation samples also sit in the training set (leaked?)",
    Label.STUCK_AT_CHANCE: "normalize the inputs to [0, 1], add batch normalization, lower the learning rate, and make "
                           "sure no ReLU comes right before the softmax/sigmoid",
    Label.DATA_SUSPECT: "check the dataset and the split: leakage or duplicates between train and validation, "
                        "mislabelled or differently preprocessed training data (very strong dropout or input noise "
                        "can also hold the train loss up)",
    Label.BAD_INITIAL_LOSS: "initialisation or labels wrong: check that the labels fit the loss (integers 0..C-1 for "
                            "sparse_categorical_crossentropy), the output activation and initializer, and scale the "
                            "inputs; if the untrained loss was near ln C, epoch 1 blew up: lower the learning rate",
}
FLAT_SLOPE = 0.005  # measured: too low a learning rate (Adam 3e-5, digits) still falls 0.8%/epoch; flat is below
STUCK_MAX_FALL = 0.002  # judgment: a stuck loss drifts < 0.2%/epoch (AUTOTRAINER's stuck run: 0), 4x under that
DIVERGE_RISE = 0.5  # loss 1.5x its minimum; TheDeepChecker uses 2x on per-step losses, epoch means are smoother
# A near-zero train loss that climbs back to 2x its minimum while the val loss rises 20% is a learning rate too
# high for the late phase (the high-learning-rate logs: 2-3x); the absolute climb must pass 2% of ln C, so
# that the wiggles of a converged loss (0.004 -> 0.006, real-log corpus r040) are not it.
DIVERGE_RATIO = 2.0
DIVERGE_MIN_CLIMB = 0.02
COLLAPSE_SHARE = 0.5  # judgment: half of KERAS_MAX_LOSS per error means saturated outputs (binary: >= 4; seen: ~8)
# An epoch-1 mean loss of 8x ln C and 8x the rest of the run blew up (LABELS.md of the real-log corpus: "tens to
# thousands of times ln C"); the corpus' t035 (10.9 = 9.9x ln 3, then 1.02 flat) was called a blow-up by both
# labellers, "at the low edge"; below 5x it is none: r028 (2.8x ln 4) and r053 (3.7x ln 5) fell to 0.13 and were
# labelled overfitting and healthy with no cause; no log of the corpus lies between 5x and 9.9x.
BLOWUP_RATIO = 8.0
DATA_TRAIN_FLAT = 0.1  # judgment: a train loss that moved < 10% over the whole run has learned nothing ...
DATA_VAL_FALL = 0.3  # ... so a val loss falling >= 30% meanwhile cannot come from training on that data
VAL_BELOW_TRAIN_RATIO = 1 / 3  # judgment: dropout or input noise put val loss at 0.5-0.9x train loss, rarely < 1/3
# val_above_train: the median of val_accuracy - accuracy over the run, in at least VAL_ABOVE_SHARE of the epochs
# above. Measured on the real-log corpus' first part: the two logs labelled so had medians of 0.051 and 0.115,
# above in every epoch; the 18 healthy ones at most 0.029 (r044: val 0.94-0.96, train 0.84-0.94). The second part's
# n017 (labelled plateau: val 0.70-0.77 above train 0.61-0.70 by a median 0.041, losses not confirming) puts the bar
# at LABELS.md's "~0.05".
# Once the train accuracy has converged (CONVERGED_FIT) only with the losses confirming and the gap not closing: at
# the end (smoothed) at least VAL_ABOVE_END_SHARE of its median over the run (or see VAL_ABOVE_MOST). Healthy
# generated runs on shapes (benchmarks/diagnosis, dropout 0.2) converge to val 1.0 / train 0.99 with a gap closing
# from 0.27 to 0.01 (median 0.105, at the end 0.018), a healthy digits run (tests/training/test_probes.py) from 0.27
# to -0.016 (median 0.039, at the end -0.008); LABELS.md: "without converging". The corpus' n032 (labelled
# val_above_train: 19 classes, train 0.81 -> 0.94 below val 0.94 -> 0.96 in every epoch, val loss 0.58x the train
# loss) holds its gap (median 0.034, at the end 0.029).
VAL_ABOVE_GAP = 0.05
VAL_ABOVE_END_SHARE = 0.5
VAL_ABOVE_SHARE = 0.8
# ... or, with the losses confirming, a gap of VAL_ABOVE_GAP in more than this share of the epochs however it ends
# (LABELS.md: "for most of the run"). Pass 9, from all twelve corpora: g031, p014 and z020 (labelled
# val_above_train: binary, 10 and 33 classes; val ahead by >= 0.05 in 60-80% of the epochs, val loss a median
# 0.42-0.66x the train loss, the gap closing to 0.013-0.034 at the end) read healthy; none of the 218 healthy logs
# holds it. It costs one generated healthy control, shapes with dropout 0.2 (seed 1: val ahead by >= 0.05 in 67% of
# the epochs, closing to 0.01), which reads val_above_train from its log alone; gridsearch's own trials know the
# dropout, and there the gap is a flag beside healthy (_flag_only).
VAL_ABOVE_MOST = 0.5
# A smaller median gap counts when the losses confirm it (val loss well below train loss, VAL_LOSS_BELOW_*): the
# corpus' r031, r034, r080 (labelled val_above_train: gaps 0.035-0.046, val loss below in 50-100% of the epochs);
# healthy r072 (gap 0.030, below in 15%) and r044 (gap 0.029) stay healthy.
VAL_ABOVE_CONFIRMED_GAP = 0.03
# Stuck at the majority share (no C needed): a model predicting one class has flat accuracies and losses that
# barely move, either way (median of the first SMOOTH_WINDOW epochs to that of the last). Measured on the real-log corpus' design
# part: its 5 such stuck logs kept both accuracies within 0.038 from epoch 2 on (r041: 0.938 in all 88 epochs), the
# train loss fell <= 19% and the val loss <= 7%; of the 7 healthy logs with accuracies as flat, the val loss fell
# >= 11% (r045: 0.178 -> 0.148) and the train loss >= 17%. STUCK_VAL_FALL sits between 7% and 11%. A log that
# starts later than epoch 1 (a fine-tuning phase, r060: labelled plateau) may have learned before it: never stuck
# by this rule.
STUCK_ACC_RANGE = 0.05
STUCK_VAL_FALL = 0.09
STUCK_TRAIN_FALL = 0.2
# Stuck at ln C (C known): both smoothed losses stay above (1 - CHANCE_MARGIN) ln C and the fit below this share of
# the chance-to-perfect range. Measured on the corpus' 75 labelled logs: the 4 stuck ones pruning's rule keeps (one
# epoch's accuracy above the ceiling) had losses >= 0.93 ln C and fits 0.16-0.25 (r007, r056, r057, r075); r063
# (too_slow: a loss 7.8x ln 2 falling to 1.1x, a regularisation term in it) fits 0.51, r023 (plateau) has a train
# loss at 0.88 ln 3.
STUCK_LOSS_MAX_FIT = 0.3
# ... unless the train loss falls consistently over the last third: in LEARNING_SHARE of its epoch pairs. Measured: the
# benchmark's lr_too_low runs on shapes (Adam 1e-4, 10 epochs: 1.384 -> 1.330 = ln 4 - 4%, accuracy 0.22 -> 0.33) fall
# in 100%; the corpus' stuck r007, r056, r075 in 48-70%.
LEARNING_SHARE = 0.9
# Val loss "well below" the train loss: under VAL_LOSS_BELOW_RATIO x it in VAL_LOSS_BELOW_SHARE of the epochs. A
# model stuck on one class costs about the same on both sets (the corpus' stuck logs: in <= 33% of their epochs;
# r080, labelled val_above_train with accuracies as flat: in all 12).
VAL_LOSS_BELOW_RATIO = 0.9
VAL_LOSS_BELOW_SHARE = 0.5
OSC_MIN_FLIPS = 0.5  # TheDeepChecker: more than 50% sign flips of the differences is fluctuation
OSC_MIN_SWING = 0.3  # judgment: median epoch-to-epoch change >= 30% of the level (healthy noise is 5-15%)
OSC_MAX_TREND = 0.5  # judgment: less than half of the path travelled is net progress: no trend
# A swinging val loss is only oscillation when the val accuracy swings too (median epoch-to-epoch change >= 5% of
# the chance-to-perfect range). Measured (benchmarks/diagnosis, healthy SGD-momentum control on digits): val loss
# 0.18-0.38 with 31% swings at the end while val accuracy moved 0.92-0.96 and matched its fault-free twin's.
OSC_ACC_SWING = 0.05
# Oscillation on the validation side (the labellers' reading: "val acc swings 0.46-0.85 epoch to epoch while train
# improves smoothly"): from the end of the first quarter on, the val accuracy's mean epoch-to-epoch step is at least
# OSC_VAL_STEP of the chance-to-perfect range and OSC_VAL_OVER_TRAIN x the train accuracy's, and neither val curve
# makes OSC_MAX_TREND of its path as net progress. Measured on the corpus' 75 labelled logs: the 6 oscillating
# ones stepped 0.042-0.25 (1.8-8x their train accuracy's; net progress <= 48% of the val loss' path, <= 21% of the
# val accuracy's); of the others with steps >= 0.04 r035 (healthy, zigzag rows) steps 1.2x its train accuracy,
# r031 and r059 trend (val loss net 90% and 93% of its path). A single jump is no swing: the digits batch-norm run
# (tests/diagnosis, val accuracy 0.10 for 4 epochs, then 0.43) nets 98% of its val accuracy's path. Pass 4, on all
# three corpora (159 logs): the logs labelled oscillating step 0.11-0.25 (r001, r021, r026, r036, t013, t015; r016
# and t020 step 0.042 and 0.036, r081 0.060 is caught by its loss), while the binary runs whose val accuracy wanders
# 2-4 points an epoch around a trend step 0.05-0.08 (t044, t046 healthy; t021, t022 too_slow; r070 overfitting).
OSC_VAL_STEP = 0.1
OSC_VAL_OVER_TRAIN = 1.5
OVERFIT_RISE = 0.2  # judgment: val loss 20% above its best, twice the ~10% epoch noise of a small val set
OVERFIT_ACC_GAP = 0.1  # AUTOTRAINER's overfit feature: train accuracy - val accuracy >= 0.10
# A rising val loss is overfitting when the accuracies show it as well: a train-val gap, or a val accuracy below
# its best, of at least this. Measured (benchmarks/diagnosis, healthy SGD-momentum control on digits): val loss
# 0.16 -> 0.30 (+53%) with train 0.98 / val 0.94 (gap 0.04) and val accuracy at its best at the end, as good as
# its fault-free twin: over-confidence on a few samples, not lost generalization.
OVERFIT_RISE_GAP = 0.05
# A val loss at twice its best needs no accuracy to show it: 2x the healthy control's +53% above; the corpus'
# r040 went 0.11 -> 0.56 with train 0.998 / val 0.949 (gap 0.049).
OVERFIT_CLEAR_RISE = 1.0
# A rising val loss needs no accuracy gap either when the train loss fell steadily since the val loss' best (this
# share of its path net progress: the _net_trend) and that best lies this share of the run before the end: the
# model kept fitting its training set, long after the val set stopped gaining. Pass 5, from the corpus: r028, u033,
# u035 (labelled overfitting: val loss +20-73% from a best 50-84% of the run before the end, train trend 0.83-1.0,
# gaps 0.04, 0.02 and -0.02) against the healthy generated controls above (SGD momentum: best 40-60% before the end,
# but a train loss that bounced with it, trend 0.20-0.26; Adam, 40 epochs: 0.57) and the healthy corpus logs whose
# val loss rose 25-63% from a best 10-30% of the run before the end (n014, n022, r019, r025, t018). Pass 9, from all
# twelve corpora: e001 (labelled overfitting: val loss 0.17 -> 0.31 from a best 43% of the run before the end) has a
# train trend of 0.698, just under the bar; it went to 0.65, still above the Adam control's 0.57.
OVERFIT_TRAIN_STEADY = 0.65
OVERFIT_LONG_SINCE = 0.4
# ... and then a smaller rise is clear enough (pass 7, from all seven corpora): u026 and v005 (labelled overfitting:
# val loss +7% and +13% smoothed from a best 40% and 52% of the run before the end, train trend 1.0 and 0.89, no
# accuracy gap) against n005 (healthy: +5% from a best 45% before the end, trend 1.0); the healthy logs that rose
# more (r019, t044, n014: +8-11%) did so from a best under 30% of the run before the end, the healthy generated
# controls with a train loss that bounced (trend 0.20-0.57). Pass 9: b018 (labelled overfitting: val loss 0.0066 ->
# 0.016 over the last 56% of the run, train trend 0.78) rises 5.9% of the loss scale, n005 5.0%: the bar went from
# 6% to between them.
OVERFIT_STEADY_RISE = 0.055
OVERFIT_NOISY_TRAIN_FALL = 0.5  # judgment: _train_fell_as_val_accuracy_slipped says why
OVERFIT_VAL_ACC_SLIP = 0.01  # judgment: one point of val accuracy (l008 slipped 1.4)
SHORT_RUN = 2 * TAIL_EPOCHS  # _turning says why
SHORT_TURN = 2
LONG_TURN = 4
SHORT_TURN_RISE = 0.05
# judgment, 3x AUTOTRAINER's gap: measured on digits, batch normalization at 8 epochs ended at train 0.99 /
# val 0.43 with a noisy, slowly falling val loss; no falling val loss makes a gap this large healthy
OVERFIT_SEVERE_GAP = 0.3
# judgment: a train loss 5% lower is a fall, beyond the +-3% batch noise of a train loss that stopped (the measured
# Adam lr 0.3 run in tests/diagnosis: 1.52 at the val loss' best, 1.51 at the end, labelled plateau)
OVERFIT_TRAIN_FALL = 0.05
# A gap that grew less than this since the val loss' (smoothed) best and since mid-run, with that best in the tail,
# is stable (LABELS.md: "a growing train-validation gap"). Measured on the corpus' 75 labelled logs with end gaps of
# 0.1-0.3: r053 (labelled healthy: train 1.0, val 0.85 from epoch 10 on, val loss best 3 epochs before the end)
# grew 0.016; the overfitting ones 0.034 (r054) and up. A val loss that left its best long ago makes even a stable
# gap overfitting (benchmark tiny_wide_overfit on digits: train 1.0, val 0.85 from epoch 19 of 40, val loss +18%).
OVERFIT_GAP_GROWTH = 0.025
# A val loss that stalled (falling less than STALLED_VAL_SLOPE per epoch over the last third) while the train loss
# still fell STALLED_TRAIN_FALL per epoch and the train-val accuracy gap grew OVERFIT_GAP_GROWTH to STALLED_GAP is the
# gap opening before the val loss turns up. Pass 14, from all nineteen corpora: six logs labelled overfitting by both
# labellers were read too_slow (15b006, 15d001, 16b004, 19b016, 19d005, 19e013: val -0.9% to +0.1%/epoch, train -2.6%
# to -24%/epoch, gaps 0.076-0.115), the underfitting rule taking the falling train loss for slow learning; no log
# labelled otherwise holds all three. Each bar sits just past the most extreme of the six, so they are fitted tightly:
# at a gap of 0.05 the healthy 18d011, n005 and x020 would hold it, at a train fall of 1.5% the healthy 19b014 and the
# too_slow n010. In a run shorter than 5 epochs the last third is the whole run: the gap grows from epoch 1's, where
# Keras' running-mean train accuracy starts low (16b004: 3 epochs).
STALLED_VAL_SLOPE = 0.01
STALLED_TRAIN_FALL = 0.025
STALLED_GAP = 0.075
# Converged: 80% of the chance-to-perfect accuracy range fitted (AUTOTRAINER: Theta 0.6-0.7). It was 90% until pass
# 4: on real tasks that left healthy runs under it (the third corpus' t024 and t030, cats vs dogs at 0.93-0.94 =
# 86-87%, t026 at 0.84 of 13 classes = 82%: labelled healthy, read as too_slow or plateau); the generated shapes
# run with a ReLU before the softmax, 0.92 of 4 classes = 90% and still improving, now reads healthy as well.
CONVERGED_FIT = 0.8
# Flat curves need less: a real task tops out where its data allows, and the labellers call both curves flat at
# 59-80% of the range healthy once the run has learned something (pass 6: the sixth corpus' w006, w007, w009 and
# x010, binary churn, loan and image tasks flat at accuracy 0.86-0.89 = 73-77%, 4 of its 5 false alarms, and the
# third's t006, 4 classes at 0.82 = 76%; pass 7: the seventh's y026 and z008 and the fourth's u016, 7 and 2 classes
# at 0.60-0.62, 2 of the seventh's 4 false alarms). Every flat log that learned and fits 59-80% is labelled healthy
# but r065 (binary at 0.864 over 200 epochs, plateau); below it the labels mix (plateau r038, w008, r077 at
# 0.55-0.59, healthy n004 at 0.56): a task's ceiling is not in its curves. Curves still falling keep the converged bar
# above: 76% and climbing 4 points an epoch is too_slow (r048; the generated ReLU-before-softmax runs).
CEILING_FIT = 0.59
# Below CONVERGED_FIT the watched loss' tail slope (val loss, else loss) decides, as the labellers read it: falling
# by FLAT_SLOPE or more per epoch is too_slow; within STUCK_MAX_FALL of flat is a plateau (learning stopped); in
# between it is gently improving, healthy while converging (the last third of the run brought under LATE_SHARE of
# the total fall), too_slow while steady. Measured on the corpus' 75 labelled logs: the 5 plateaus' val slopes
# -0.1%..+0.0%/epoch; healthy r071 and r072 (fits 0.58, 0.62) -0.3% and -0.4%, converging (last third: 3% and 10%
# of the fall); too_slow r033 -0.7%, steady (32%).
LATE_SHARE = 0.2
# ... but not under half the range: learning that slows to a crawl there has stalled far from a good fit (pass 5:
# the generated ReLU-before-softmax runs at 0.44, val loss -0.5%/epoch, against the corpus' r071 and r072 at 0.58 and
# 0.62, labelled healthy)
CONVERGING_MIN_FIT = 0.5
# A train loss still falling this many times FLAT_SLOPE per epoch is learning, whatever the val loss does: the
# plateau needs both curves flat (LABELS.md). The corpus' n010 (labelled too_slow: 7 epochs, train -2.2%/epoch,
# accuracy 0.51 -> 0.65, val loss flat at ln 2) against r060 (plateau: a fine-tuning phase, train -0.9%/epoch).
TRAIN_STILL_FALLING = 3
# A converged fit still climbing fast is too_slow too: the val accuracy gaining 2.5% of the range per epoch over the
# last 2 epochs while the val loss falls 2.5%/epoch. Pass 5, from the corpus: u021 (labelled too_slow: 5 classes, 20
# epochs, accuracy 0.93 and val accuracy +2.5 points/epoch to the end, val loss -18%/epoch) and r059 (5 epochs, -21%,
# +15 points); the healthy n028, t004, n035 and r035 fall as fast (-17% to -6%) with their val accuracies settled
# (gains 0-0.02 of the range per epoch), and so does a healthy generated control with batch normalization whose val
# accuracy caught up late (-24%/epoch, 0.009). Pass 6: the generated ReLU-before-softmax run on shapes at 0.92 of 4
# classes (val accuracy +3.7% of the range per epoch, val loss -3%/epoch) is too_slow, no longer healthy.
STILL_GAINING_SLOPE = 0.025
STILL_GAINING_ACC = 0.025

# What needs the number of classes, and is skipped without it (a log made elsewhere, `diagnose` without --classes)
NEEDS_CLASSES = {"stuck_at_chance": "accuracy at chance 1/C and a loss at ln C (the flat-accuracy check runs)",
                 "bad_initial_loss": "a first loss far above ln C"}


def find_nan(c: Curves) -> Diagnosis | None:
    """Any non-finite loss or val_loss: the run is lost from that epoch on."""
    bad = c.first_non_finite()
    if bad is None:
        return None
    name = "loss" if not math.isfinite(c.loss[bad]) else "val_loss"
    value = (c.loss if name == "loss" else c.val_loss)[bad]
    before = f"; loss was {c.loss[bad - 1]:.3g} at epoch {c.epoch(bad - 1)}" if bad else ""
    if c.initial_loss is not None and not math.isfinite(c.initial_loss):
        return Diagnosis(Label.NAN, "the untrained model's loss is already non-finite, before any update: an op of "
                         "the model (log, sqrt, a division) or the data produce it, not the learning rate; check the "
                         "inputs for NaN/inf and guard the op (e.g. log(x + 1e-7))",
                         f"untrained loss {c.initial_loss}; {name} {value} at epoch {c.epoch(bad)}", 1.0,
                         cause=CAUSE_UNTRAINED_NAN)
    return Diagnosis(Label.NAN, f"the loss became {value} at epoch {c.epoch(bad)}: lower the learning rate 10x, add "
                     "gradient clipping (clipnorm=1.0), check the inputs for NaN/inf and that the loss fits the "
                     "output layer",
                     f"{name} {value} at epoch {c.epoch(bad)}{before}", 1.0)


def find_diverging(c: Curves) -> Diagnosis | None:
    """The smoothed train loss ends well above its own minimum and is not coming back down (or is still
    DIVERGE_RATIO x that minimum).

    Well above: by DIVERGE_RISE of its scale, or (a near-zero loss, the val loss rising with it) DIVERGE_RATIO
    times its minimum.
    """
    if c.epochs < MIN_EPOCHS:
        return None
    s = smooth(c.loss)
    low = int(np.argmin(s))
    rise = (s[-1] - s[low]) / c.scale(s[low])
    slope = c.tail_slope(c.loss)
    # falling again, but not yet back under DIVERGE_RATIO x its minimum, is still up (LABELS.md: "stays up at the
    # end"): pass 7, the seventh corpus' z026 (labelled diverging: 0.11 -> 0.64 in one epoch as a new phase began,
    # falling to 0.28 = 2.7x at the end); no other log of the seven corpora changes with it
    coming_back = slope <= -FLAT_SLOPE and (s[low] <= 0 or s[-1] < DIVERGE_RATIO * s[low])  # (a loss may be < 0)
    if coming_back or not (rise >= DIVERGE_RISE or _climbs_back(c, s, low)):
        return None
    times = s[-1] / max(s[low], 1e-12)  # a loss logged as 0.0 at its minimum (the forty-first corpus' 41b004)
    return Diagnosis(Label.DIVERGING, "learning rate too high: lower it 10x or add gradient clipping (clipnorm=1.0); "
                     f"check the loss sign and that the output layer fits the loss{c.lr_note()}",
                     f"smoothed loss min {s[low]:.3g} at epoch {c.epoch(low)}, {s[-1]:.3g} at epoch "
                     f"{c.epoch(c.epochs - 1)} ({times:.1f}x, +{rise:.0%} of its scale, slope "
                     f"{slope:+.1%}/epoch)", confidence(max(rise / DIVERGE_RISE, times / DIVERGE_RATIO) - 1))


def _climbs_back(c: Curves, s: np.ndarray, low: int) -> bool:
    """A near-zero train loss back at DIVERGE_RATIO x its minimum, with the val loss up OVERFIT_RISE meanwhile."""
    if c.val_loss is None or s[-1] < DIVERGE_RATIO * s[low]:
        return False
    if s[-1] - s[low] < DIVERGE_MIN_CLIMB * (c.chance_loss or math.log(2)):
        return False
    sv = smooth(c.val_loss)
    return bool(sv[-1] >= (1 + OVERFIT_RISE) * np.min(sv[:low + 1]))


def _settled_at_chance_loss(c: Curves) -> bool:
    """A loss that fell only back to ln C, e.g. after a blow-up, and is flat there: the fall was no learning.

    Benchmark evidence (benchmarks/diagnosis, lr_too_high on shapes): Adam at lr 1.0 went 229 -> 1.60 -> 1.41
    (ln 4 = 1.39) and then flat, accuracy at chance; the whole-run slope still read as falling.
    """
    tail = c.loss[-c.tail:]
    return (c.chance_loss is not None and c.tail_slope(c.loss) > -STUCK_MAX_FALL
            and float(np.median(tail)) >= (1 - CHANCE_MARGIN) * c.chance_loss)


def find_stuck_at_chance(c: Curves) -> Diagnosis | None:
    """Accuracy never clearly above chance and a loss that does not fall (or saturated outputs early on).

    The raw accuracy maximum, not a smoothed one: a single epoch clearly above chance shows the model
    can learn, and pruning must never drop a learner. Epochs up to the last blow-up (a mean loss above
    KERAS_MAX_LOSS: overflowing outputs) are left out, their accuracy included: the fall back from a blow-up
    is no learning. Measured: 3-vs-8 digits, 0-255 inputs, SGD 1.0 logged a loss of 1.7e9, 150, then 0.693
    flat, with a train accuracy of 0.56 in the blow-up epoch; over the whole run it read as learning.
    """
    if c.num_classes is None:
        return None
    c, after = _after_blow_ups(c)
    return _stuck(c, _at_chance(c, after)) if c.epochs else None


def _stuck_over_the_run(c: Curves) -> Diagnosis | None:
    """Stuck, judged on a whole run (never by pruning, which sees a prefix: a slow learner's first epochs look
    like this): flat accuracies at the majority share (no C needed), or losses that never leave ln C."""
    c, _ = _after_blow_ups(c)
    return _stuck(c, _at_majority_share(c) or _one_class_on_validation(c) or _one_class_in_training(c)
                  or _at_chance_loss(c))


def _falling_share(values: np.ndarray) -> float:
    """The share of epoch pairs (i < j) whose later loss is lower: 1.0 for a loss that falls every epoch."""
    i, j = np.triu_indices(len(values), k=1)
    return float(np.mean(values[j] < values[i])) if len(i) else 0.0


def _at_chance_loss(c: Curves) -> tuple[str, float] | None:
    """Both smoothed losses never clearly below ln C after epoch 1 (the cost of uniform outputs: nothing learned that
    holds), with the accuracy within STUCK_LOSS_MAX_FIT of chance: LABELS.md's "accuracy about at chance and the loss
    barely moves". Scored with the best epoch's accuracy raw, pruning's find_stuck_at_chance would keep these runs.
    """
    if c.chance_loss is None or c.epochs < MIN_EPOCHS + 1 or not c.accuracies():
        return None
    lowest = {name: float(np.min(smooth(v)[1:])) for name, v in c.losses()}
    fit, fit_evidence = c.fit()
    if min(lowest.values()) < (1 - CHANCE_MARGIN) * c.chance_loss or fit >= STUCK_LOSS_MAX_FIT:
        return None
    if _falling_share(c.loss[-c.last_third:]) >= LEARNING_SHARE:
        return None  # a train loss that still falls epoch after epoch is a slow learner (too_slow), not a stuck one
    shown = ", ".join(f"{name} never below {low:.3g}" for name, low in lowest.items())
    return (f"{shown} (smoothed, after epoch {c.epoch(0)}; ln C = {c.chance_loss:.3g}); {fit_evidence} over "
            f"{c.epochs} epochs", confidence(1 - fit / STUCK_LOSS_MAX_FIT))


def _after_blow_ups(c: Curves) -> tuple[Curves, str]:
    blown = np.flatnonzero(c.loss > KERAS_MAX_LOSS)
    start = int(blown[-1]) + 1 if 0 < len(blown) < c.epochs else 0
    return c.since(start), f" after a loss of {c.loss[start - 1]:.3g} in epoch {c.epoch(start - 1)}" if start else ""


def _stuck(c: Curves, found: tuple[str, float] | None) -> Diagnosis | None:
    if found is None:
        return None
    evidence, sure = found
    imbalance = (f"; the majority class is {c.chance_accuracy:.0%} of the data: try class_weight='balanced'"
                 if c.num_classes and c.chance_accuracy > 1 / c.num_classes else "")
    advice = (f"normalize the inputs to [0, 1], add batch normalization, lower the learning rate{c.lr_note()}, and "
              f"make sure no ReLU comes right before the softmax/sigmoid{imbalance}")
    return Diagnosis(Label.STUCK_AT_CHANCE, advice, evidence, sure)


def _at_chance(c: Curves, after: str) -> tuple[str, float] | None:
    """Accuracy at most chance_ceiling (or, without accuracies, a loss at ln C), and a loss that does not fall."""
    if c.accuracies():
        name, best = max(((n, float(np.nanmax(v))) for n, v in c.accuracies()), key=lambda t: t[1])
        level = f"{name} never above {best:.3g} (chance {c.chance_accuracy:.3g}){after}"
        if best > chance_ceiling(c.chance_accuracy):
            return None
    else:
        if np.min(c.loss) < (1 - CHANCE_MARGIN) * c.chance_loss:
            return None
        level = f"loss never below {np.min(c.loss):.3g} (ln C = {c.chance_loss:.3g}){after}"
    if c.epochs < MIN_EPOCHS:
        collapsed = COLLAPSE_SHARE * (1 - c.chance_accuracy) * KERAS_MAX_LOSS
        if np.min(c.loss) < collapsed:
            return None
        movement = f"loss {np.min(c.loss):.3g} >= {collapsed:.3g}: saturated outputs"
    else:  # the whole run: stuck runs never left chance, and a longer run averages out the noise
        slope = c.slope(c.loss)
        if slope <= -STUCK_MAX_FALL and not _settled_at_chance_loss(c):
            return None
        movement = f"loss {c.loss[0]:.3g} -> {c.loss[-1]:.3g}, slope {slope:+.2%}/epoch"
    return f"{level}; {movement} over {c.epochs} epochs", confidence((c.epochs - MIN_EPOCHS + 1) / TAIL_EPOCHS)



def _at_majority_share(c: Curves) -> tuple[str, float] | None:
    """Accuracies flat from epoch 2 on and losses that barely fall: the model predicts one class."""
    if (c.first_epoch > 1 or c.epochs < MIN_EPOCHS + 1 or c.accuracy is None or c.val_accuracy is None
            or _every_training_sample_right(c)):
        return None
    ranges = {name: float(np.ptp(v[1:])) for name, v in c.accuracies()}
    falls = {name: -_change(c, v)[2] for name, v in c.losses()}
    if len(ranges) < 2 or max(ranges.values()) > STUCK_ACC_RANGE or "val_loss" not in falls:
        return None
    if _val_loss_below_share(c) >= VAL_LOSS_BELOW_SHARE:
        return None  # one constant output costs about the same on both sets: this model tells them apart
    level = float(np.median(c.val_accuracy))
    prior = _prior_cost(level)
    if float(np.min(smooth(c.val_loss))) < (1 - CHANCE_MARGIN) * prior:
        return None  # it predicts unseen data better than the class shares do: it learned (MNIST at 0.993, t048)
    if abs(falls["val_loss"]) >= STUCK_VAL_FALL or abs(falls["loss"]) >= STUCK_TRAIN_FALL:
        return None  # a loss that moves (either way) with flat accuracies is another story (overfitting, diverging)
    if all(np.all(np.diff(v) < 0) for _, v in c.losses()):
        # both losses fell in every epoch: a short run that is learning, not a constant output's jitter (pass 5:
        # the corpus' u030, labelled healthy: 5 epochs, 10 classes, val accuracy 0.85-0.88, val loss 0.42 -> 0.33)
        return None
    shown = ", ".join(f"{name} within {width:.3f}" for name, width in ranges.items())
    return (f"from epoch {c.epoch(1)} on: {shown} (val_accuracy ~{level:.3g}, likely the majority class' share); "
            f"loss fell {falls['loss']:.0%}, val_loss {falls['val_loss']:.0%} over {c.epochs} epochs",
            confidence(1 - max(ranges.values()) / STUCK_ACC_RANGE))


def _every_training_sample_right(c: Curves) -> bool:
    """A train accuracy of 1 (to 4 decimals) in an epoch after the first: the model tells every training sample's
    class, which one output for all samples cannot. Flat accuracies at that height are a small, easy validation set
    beside a learnt training set, not a stuck model: on the real-log corpus, 38a011, 53h009, 62h008 and 63b003
    (labelled healthy; val accuracy 0.9683 in all 15 epochs of 63b003 as its train accuracy held at 1 from epoch 3)
    were read stuck_at_chance; the one log labelled stuck that reaches it (43a007) is read diverging either way."""
    return bool(np.nanmax(np.round(c.accuracy[1:], 4), initial=0.0) >= 1.0)


def _prior_cost(share: float) -> float:
    """The least cross-entropy a model that outputs fixed class shares, the largest being `share`, pays on unseen
    data: the entropy of the most concentrated such shares (as many classes at `share` as fit, the rest on one more;
    the real shares are not known, and spreading them only costs more). A lower val loss means it learned: the
    corpus' t048 (MNIST, accuracies 0.992-0.997 flat, val loss 0.023 against 0.042 for a 0.993 share), t006 (0.03
    against 0.49) and n021 (a focal loss) were labelled healthy or overfitting; the stuck r037 (binary, 0.73) pays
    0.547 against 0.583, r014 (7 skin-lesion classes, 0.58) 1.08 against 0.68."""
    share = min(max(share, 1e-6), 1 - 1e-6)
    full = math.floor(1 / share)
    rest = 1 - full * share
    return -full * share * math.log(share) - (rest * math.log(rest) if rest > 1e-12 else 0.0)


def _one_class_on_validation(c: Curves) -> tuple[str, float] | None:
    """The val accuracy the same (to 4 decimals) in every epoch and below 1, beside a flat train accuracy (or one
    that, like the val accuracy, fits under STUCK_LOSS_MAX_FIT of the range): every validation sample gets the same
    class, whatever the losses do.

    Measured on the real-log corpus: the 4 logs whose val accuracy never changed were all labelled stuck_at_chance
    (r013, r015: 0.6698; r041: 0.9375 over 88 epochs; n002: 0.2 over the 8 epochs of a fine-tuning phase, whose val
    loss fell from 3.9 to 1.7 as the new head settled, which the majority-share rule reads as learning). A train
    accuracy flat OVERFIT_ACC_GAP above that constant has learned its training set: memorised, not stuck (pass 6: the
    sixth corpus' x012, labelled overfitting: train 0.997 from epoch 2, val 0.5691 in all 6 epochs, val loss 4.9 -> 9.3).
    A train accuracy that moves counts too while both accuracies fit under STUCK_LOSS_MAX_FIT of the range, and then
    3 epochs show it (pass 10, from the thirteenth corpus: o008 and o021, labelled stuck_at_chance: val 0.25 in all 6
    epochs beside a train accuracy of 0.17-0.31 for 9 classes, and val 0.0886 in all 3 for 18; both read too_slow as
    their losses fell). A high constant (a small, easy validation set) is no such evidence.
    """
    if (c.epochs < MIN_EPOCHS or c.accuracy is None or c.val_accuracy is None
            or not np.isfinite(c.accuracy).all() or not np.isfinite(c.val_accuracy).all()
            or _every_training_sample_right(c)):
        return None
    val, width = np.round(c.val_accuracy, 4), float(np.ptp(c.accuracy[1:]))
    flat = width <= STUCK_ACC_RANGE and c.epochs > MIN_EPOCHS
    unfitted = max(c.train_fit(), c.range_share(float(val[0]))) < STUCK_LOSS_MAX_FIT
    if (np.ptp(val) > 0 or val[0] >= 1 or not (flat or unfitted)
            or float(np.median(c.accuracy[1:])) - val[0] >= OVERFIT_ACC_GAP):
        return None
    return (f"val_accuracy {val[0]:.4g} in all {c.epochs} epochs, accuracy within {width:.3f} from epoch {c.epoch(1)} "
            "on: every validation sample gets the same class", confidence(1 - min(width / STUCK_ACC_RANGE, 1)))


def _one_class_in_training(c: Curves) -> tuple[str, float] | None:
    """A log without validation whose train accuracy is the same (to 4 decimals) in every epoch from the second on,
    below 1: every training sample gets the same class, whatever the loss does (a learning model's accuracy over the
    whole training set moves from epoch to epoch). The eighteenth corpus' 18b001 and 18b002 (labelled
    stuck_at_chance: 0.7964 of a binary task for 6 epochs, the majority share, as the loss fell: read too_slow). In
    every corpus, the logs with validation whose train accuracy never moved after epoch 1 were labelled
    stuck_at_chance too (18b017, d018, p011, r041), or nan. A loss below what fixed class shares cost (_prior_cost)
    learned something all the same.
    """
    if c.val_accuracy is not None or c.accuracy is None or c.epochs <= MIN_EPOCHS:
        return None
    if (kept := _constant_after_first(c.accuracy)) is None:
        return None
    if float(np.min(smooth(c.loss))) < (1 - CHANCE_MARGIN) * _prior_cost(kept):
        return None  # a loss no one-class output reaches: a fit logged to 2 decimals ("acc=0.99"), or k/N of a few
    return (f"accuracy {kept:.4g} in every epoch from epoch {c.epoch(1)} on ({c.epochs} epochs, no validation): "
            "every training sample gets the same class", confidence(1.0))


def _constant_after_first(accuracy: np.ndarray) -> float | None:
    """The accuracy if it is the same (to 4 decimals) in every epoch logged after the first and below 1, else None."""
    kept = np.round(accuracy[1:], 4)
    if len(kept) == 0 or not np.isfinite(kept).all():
        return None
    return float(kept[0]) if np.ptp(kept) == 0 and 0 < kept[0] < 1 else None


def forest_may_judge(label: Label, c: Curves) -> bool:
    """Whether the second opinion may overrule this reading: a judgment of degree (OVERRULABLE), not a mechanism.
    Besides nan, diverging and unknown, a stuck reading whose val accuracy (without validation, the train accuracy)
    never changes after the first epoch logged, over more than MIN_EPOCHS epochs, is one: the model gives every
    sample one class. On every corpus as it was held out (1173 logs, each pass' rules), keeping such readings from the
    forest makes 5 logs right that it had overruled (p011, d018, 20d013, 23c007, 25b003: labelled stuck_at_chance,
    read healthy, overfitting or too_slow) and 1 wrong (x012: a memorised run that pass read stuck, today's rules
    overfitting); 15a010 (plateau) stays wrong. Held out after, the twenty-sixth corpus had one such reading (26e004,
    labelled plateau), which the forest would not have overruled either."""
    accuracy = c.val_accuracy if c.val_accuracy is not None else c.accuracy
    one_class = accuracy is not None and c.epochs > MIN_EPOCHS and _constant_after_first(accuracy) is not None
    return label in OVERRULABLE and not (label is Label.STUCK_AT_CHANCE and one_class)


def blew_up_in_epoch_1(c: Curves) -> str:
    """The evidence that training itself blew the loss up in epoch 1 ("" if not).

    From a sound untrained loss to a bad epoch-1 mean (measured, benchmarks/diagnosis lr_too_high: Adam at 1.0
    logged 229 in epoch 1 from an untrained 1.39 = ln 4); the untrained loss unknown (a log made elsewhere), an
    overflowing epoch-1 mean, or one BLOWUP_RATIO times ln C and the rest of the run (the real-log corpus' r032:
    53 in epoch 1, then 2.31 = ln 10 flat).
    """
    if c.epochs == 0 or not math.isfinite(c.loss[0]):
        return ""
    first = float(c.loss[0])
    if c.initial_loss is not None:
        if is_bad_initial_loss(c.initial_loss, c.num_classes or 2) or not is_bad_initial_loss(first, c.num_classes or 2):
            return ""
        return (f"the loss blew up in epoch {c.epoch(0)} (untrained {c.initial_loss:.3g}, epoch-{c.epoch(0)} mean "
                f"{first:.3g})")
    if first > KERAS_MAX_LOSS and (c.epochs == 1 or first > np.min(c.loss[1:])):
        return f"the loss blew up in epoch {c.epoch(0)}: its mean overflowed to {first:.3g}"
    if c.epochs < 2:
        return ""
    rest = float(np.median(c.loss[1:]))
    ratio = first / max(rest, c.chance_loss or math.log(2))
    if ratio < BLOWUP_RATIO:
        return ""
    return (f"the loss blew up in epoch {c.epoch(0)}: {first:.3g}, {ratio:.0f}x "
            f"{'ln C' if c.chance_loss and c.chance_loss > rest else 'the rest of the run'} (median {rest:.3g} after)")


def _bad_initial_loss(c: Curves) -> Diagnosis | None:
    """The untrained loss (else the epoch-1 mean) far above ln C.

    An epoch-1 mean that the run then brings below ln C says nothing of the untrained model: the mean includes
    the updates that fixed it (or blew it up: blew_up_in_epoch_1 names that, under whatever label fits the rest).
    """
    if c.num_classes is None or (c.initial_loss is None and c.epochs == 0):
        return None
    first, source = (c.initial_loss, "untrained loss") if c.initial_loss is not None else (c.loss[0], "epoch-1 loss")
    if not is_bad_initial_loss(first, c.num_classes):
        return None
    if c.initial_loss is None and c.epochs > 1 and np.nanmin(c.loss[1:]) < c.chance_loss:
        return None
    ratio = first / c.chance_loss
    return Diagnosis(Label.BAD_INITIAL_LOSS, ADVICE[Label.BAD_INITIAL_LOSS],
                     f"{source} {first:.3g} vs ln({c.num_classes}) = {c.chance_loss:.3g} ({ratio:.1f}x, "
                     f"limit {BAD_INITIAL_LOSS_RATIO:g}x)", confidence(ratio / BAD_INITIAL_LOSS_RATIO - 1))


def _data_suspect(c: Curves) -> Diagnosis | None:
    """The train loss flat while the val loss falls clearly: what falls was not learned from the training data."""
    if c.val_loss is None or c.epochs < MIN_EPOCHS:
        return None
    (t0, t1, train_change), (v0, v1, val_change) = _change(c, c.loss), _change(c, c.val_loss)
    if train_change <= -DATA_TRAIN_FLAT or val_change > -DATA_VAL_FALL:
        return None
    return Diagnosis(Label.DATA_SUSPECT, ADVICE[Label.DATA_SUSPECT],
                     f"train loss {t0:.3g} -> {t1:.3g} ({train_change:+.0%}) while val loss {v0:.3g} -> {v1:.3g} "
                     f"({val_change:+.0%})", confidence(-val_change / DATA_VAL_FALL - 1))


def _val_above_train(c: Curves) -> Diagnosis | None:
    """Validation far better than training for the whole run: the val accuracy above the train accuracy by
    VAL_ABOVE_GAP (median) in VAL_ABOVE_SHARE of the epochs, or the val loss below VAL_BELOW_TRAIN_RATIO x the
    train loss in every epoch."""
    if c.val_loss is None or c.epochs < MIN_EPOCHS:
        return None
    if c.accuracy is not None and c.val_accuracy is not None:
        gap = c.val_accuracy - c.accuracy
        median, share, ahead = float(np.median(gap)), float(np.mean(gap > 0)), float(np.mean(gap >= VAL_ABOVE_GAP))
        below = _val_loss_below_share(c)
        evidence = (f"val_accuracy above accuracy in {share:.0%} of the epochs ({ahead:.0%} by {VAL_ABOVE_GAP:g} or "
                    f"more), by {median:.3f} (median; last: val "
                    f"{c.val_accuracy[-1]:.3g}, train {c.accuracy[-1]:.3g}); val loss under "
                    f"{VAL_LOSS_BELOW_RATIO:g}x the train loss in {below:.0%} of the epochs")
        excess = median / VAL_ABOVE_GAP - 1
        train_fit = c.train_fit()
        clear = median >= VAL_ABOVE_GAP and share >= VAL_ABOVE_SHARE
        confirmed = median >= VAL_ABOVE_CONFIRMED_GAP and below >= VAL_LOSS_BELOW_SHARE
        end_gap = float(smooth(gap)[-1])
        most = ahead > VAL_ABOVE_MOST and c.epochs >= SHORT_RUN  # a short run is all tail: its closing gap converges
        held = (clear or confirmed) and (train_fit < CONVERGED_FIT or
                                          (confirmed and (most or end_gap >= VAL_ABOVE_END_SHARE * median)))
    else:
        sl, sv = smooth(c.loss), smooth(c.val_loss)
        below = float(np.min((sl - sv) / c.scale(sl)))
        evidence = (f"val loss below {VAL_BELOW_TRAIN_RATIO:.2g}x the train loss in every epoch "
                    f"(last: val {sv[-1]:.3g}, train {sl[-1]:.3g})")
        excess = below / (1 - VAL_BELOW_TRAIN_RATIO) - 1
        held = below >= 1 - VAL_BELOW_TRAIN_RATIO
    if not held:
        return None
    return Diagnosis(Label.VAL_ABOVE_TRAIN, ADVICE[Label.VAL_ABOVE_TRAIN], evidence, confidence(excess))


def _val_loss_below_share(c: Curves) -> float:
    """The share of epochs whose val loss is under VAL_LOSS_BELOW_RATIO x the train loss."""
    return 0.0 if c.val_loss is None else float(np.mean(c.val_loss < VAL_LOSS_BELOW_RATIO * c.loss))


def _oscillating(c: Curves) -> Diagnosis | None:
    if c.epochs < TAIL_EPOCHS:
        return None
    swinging = _val_swings(c)
    if swinging and not _val_loss_doubled_as_train_fell(c):
        return Diagnosis(Label.OSCILLATING, f"the validation results swing from epoch to epoch: "
                         f"{ADVICE[Label.OSCILLATING]}{c.lr_note()}", swinging[0], swinging[1])
    span = max(TAIL_EPOCHS, c.epochs // 2)
    for name, values in c.losses():
        if name == "val_loss" and c.val_accuracy is not None and np.isfinite(c.val_accuracy).all():
            acc_swing = float(np.median(np.abs(np.diff(c.val_accuracy[-span:])))) / (1 - c.chance_accuracy)
            if acc_swing < OSC_ACC_SWING:
                continue  # the val accuracy holds steady: the swings are a small validation set's noise
        if name == "loss" and c.val_loss is not None and _net_trend(smooth(c.val_loss)[-span:]) >= OSC_MAX_TREND:
            # A train loss swinging beside a val loss that keeps falling is the noise of few or uneven batches per
            # epoch (the corpus' n038, labelled healthy: train loss 0.26-0.72 over the last 10 epochs, val loss
            # 0.49 -> 0.38, smoothed, with 86% of its path net progress)
            continue
        window = values[-span:]
        steps = np.diff(window)
        path = float(np.sum(np.abs(steps)))
        if path == 0:
            continue
        flips = float(np.mean(steps[1:] * steps[:-1] < 0))
        swing = float(np.median(np.abs(steps))) / c.scale(float(np.median(window)))
        trend = _net_trend(window)
        if flips >= OSC_MIN_FLIPS and swing >= OSC_MIN_SWING and trend < OSC_MAX_TREND:
            return Diagnosis(Label.OSCILLATING, "learning rate too high: lower it 3-10x or use a larger batch; "
                             f"check the loss sign and the output layer{c.lr_note()}",
                             f"{name} over the last {len(window)} epochs: {flips:.0%} direction changes, median swing "
                             f"{swing:.0%} of its level, net trend {trend:.0%} of the path",
                             confidence(swing / OSC_MIN_SWING - 1))
    return None


def _val_loss_doubled_as_train_fell(c: Curves) -> bool:
    """The val loss ends (smoothed) at OVERFIT_CLEAR_RISE above its best while the train loss fell steadily since:
    val swings that come with it are the overfitted model's, not the learning rate's (pass 5, from the corpus: n025 and
    u017, labelled overfitting: val loss 0.33 -> 7.2 and 0.60 -> 3.7 as the train loss fell with trends 0.75 and 1.0;
    the oscillating r036 and t013: rises +91% and +29%, train trends 0.23 and 0.21)."""
    low, rise = _val_loss_rise(c)
    return rise >= OVERFIT_CLEAR_RISE and _train_fell_steadily_since(c, low)


def _val_loss_rise(c: Curves) -> tuple[int, float]:
    """The smoothed val loss' lowest epoch, and how far above it the run ends (a share of the loss scale)."""
    sv = smooth(c.val_loss)
    low = int(np.argmin(sv))
    return low, float(sv[-1] - sv[low]) / c.scale(sv[low])


def _net_trend(values: np.ndarray) -> float:
    """The share of the path a curve travels that is net progress: 1 for a monotone curve, near 0 for a zigzag."""
    path = float(np.sum(np.abs(np.diff(values))))
    return abs(float(values[-1] - values[0])) / path if path else 1.0


def _val_swings(c: Curves) -> tuple[str, float] | None:
    """The val accuracy swings (OSC_VAL_STEP, OSC_VAL_OVER_TRAIN x the train accuracy's steps) around a val loss with
    no net trend (OSC_MAX_TREND), from the end of the first quarter on: the evidence and confidence, else None."""
    if c.val_accuracy is None or c.val_loss is None or not np.isfinite(c.val_accuracy).all():
        return None
    start = min(c.epochs // 4, c.epochs - TAIL_EPOCHS)
    val_step = float(np.mean(np.abs(np.diff(c.val_accuracy[start:])))) / (1 - c.chance_accuracy)
    train_step = (0.0 if c.accuracy is None else
                  float(np.mean(np.abs(np.diff(c.accuracy[start:])))) / (1 - c.chance_accuracy))
    loss = c.val_loss[start:]
    trend, acc_trend = _net_trend(loss), _net_trend(c.val_accuracy[start:])
    if val_step < OSC_VAL_STEP or val_step < OSC_VAL_OVER_TRAIN * train_step or max(trend, acc_trend) >= OSC_MAX_TREND:
        return None
    return (f"from epoch {c.epoch(start)} on: val_accuracy moves {val_step:.0%} of the chance-to-perfect range per "
            f"epoch (mean; accuracy {train_step:.0%}), val_loss {loss.min():.3g}-{loss.max():.3g} with a net trend of "
            f"{trend:.0%} of its path", confidence(val_step / OSC_VAL_STEP - 1))


def _overfitting(c: Curves) -> Diagnosis | None:
    if c.val_loss is None or c.epochs < MIN_EPOCHS:
        return None
    sl, sv = smooth(c.loss), smooth(c.val_loss)
    low, rise = _val_loss_rise(c)
    if sl[-1] > sl[low]:  # the train loss rose as well: a learning-rate problem, not overfitting
        return None
    best = int(np.argmin(c.val_loss))
    if (rise >= OVERFIT_RISE and (rise >= OVERFIT_CLEAR_RISE or _accuracies_show_overfitting(c))
            or rise >= OVERFIT_STEADY_RISE and _train_fell_steadily_since(c, low, OVERFIT_LONG_SINCE)
            or rise >= OVERFIT_RISE and _train_fell_as_val_accuracy_slipped(c, low)):
        evidence = (f"val_loss min {c.val_loss[best]:.3g} at epoch {c.epoch(best)}, smoothed {sv[-1]:.3g} by epoch "
                    f"{c.epoch(c.epochs - 1)} (+{rise:.0%}) while loss went {sl[low]:.3g} -> {sl[-1]:.3g}")
        excess = rise / (OVERFIT_RISE if rise >= OVERFIT_RISE else OVERFIT_STEADY_RISE) - 1
    elif memorised := _memorised(c):
        evidence, excess = memorised
    elif turning := _turning(c, best):
        evidence, excess = turning
    elif stalled := _val_stalled_as_train_fell(c):
        evidence, excess = stalled
    elif _gap_opening(c, best):
        val_slope = c.late_slope(c.val_loss)
        evidence = (f"val_loss best {c.val_loss[best]:.3g} at epoch {c.epoch(best)}, then {val_slope:+.1%}/epoch over "
                    f"the last {c.last_third} epochs (last {c.val_loss[-1]:.3g}) while loss went {sl[best]:.3g} -> "
                    f"{sl[-1]:.3g}")
        excess = val_slope / FLAT_SLOPE - 1
    else:
        if c.accuracy is None or c.val_accuracy is None:
            return None
        # still falling = a falling tail that also holds the minimum: a noisy 5-epoch dip long after the best epoch
        # is no progress (benchmark tiny_wide_overfit, seed 4: best val_loss 13 epochs before the end, gap 0.18)
        still_falling = c.tail_slope(c.val_loss) <= -FLAT_SLOPE and low >= c.epochs - c.tail
        train, val = smooth(c.accuracy), smooth(c.val_accuracy)
        train_acc, val_acc = float(train[-1]), float(val[-1])
        gap = train_acc - val_acc
        # a gap that stopped growing beside a val loss still at its best (in the tail) is a stable one
        stable = (low >= c.epochs - c.tail
                  and gap - min(float(train[i] - val[i]) for i in (low, c.epochs // 2)) < OVERFIT_GAP_GROWTH)
        if not gap >= OVERFIT_ACC_GAP or (gap < OVERFIT_SEVERE_GAP and (still_falling or stable)):
            return None  # (a NaN accuracy is no gap)
        evidence = (f"accuracy {train_acc:.3g} vs val_accuracy {val_acc:.3g} (gap {train_acc - val_acc:.2f}) "
                    f"with val_loss no longer falling (best {c.val_loss[best]:.3g} at epoch {c.epoch(best)})")
        excess = (train_acc - val_acc) / OVERFIT_ACC_GAP - 1
    return Diagnosis(Label.OVERFITTING, f"val_loss was lowest at epoch {c.epoch(best)}: stop there (EarlyStopping "
                     "with restore_best_weights) and add regularization (dropout, L2, batch normalization, input "
                     "noise) or more data; with batch normalization on small data and a gap from the first epochs, "
                     "the moving statistics may lag: train longer or lower the BatchNormalization momentum",
                     evidence, confidence(excess))


def _memorised(c: Curves) -> tuple[str, float] | None:
    """The train accuracy rose to CONVERGED_FIT, OVERFIT_ACC_GAP above the val accuracy, which never rose
    OVERFIT_RISE_GAP above its first epoch's: whatever was learned holds on the training set only (LABELS.md: "the
    model learns only its training set"). The corpus' n023 (labelled overfitting: 64 galaxy images, train 0.50 ->
    1.00, val 0.73 at best, as in epoch 1; the val loss swung 0.58-9.5 and no loss rule held)."""
    if c.accuracy is None or c.val_accuracy is None or c.epochs < MIN_EPOCHS:
        return None
    train, val = smooth(c.accuracy), c.val_accuracy
    gained = float(np.max(val[1:]) - val[0])
    gap = float(train[-1] - smooth(val)[-1])
    if c.train_fit() < CONVERGED_FIT or gained >= OVERFIT_RISE_GAP or gap < OVERFIT_ACC_GAP:
        return None  # (transfer learning starts its val accuracy near the top: no gain to make, and no gap)
    return (f"accuracy {c.accuracy[0]:.3g} -> {train[-1]:.3g} (smoothed) while val_accuracy never rose above "
            f"{float(np.max(val)):.3g} (epoch {c.epoch(0)}: {val[0]:.3g}; gap {gap:.2f} at the end)",
            confidence(gap / OVERFIT_ACC_GAP - 1))


def _turning(c: Curves, best: int) -> tuple[str, float] | None:
    """The val loss rising in each of the last epochs of the run, SHORT_TURN_RISE above its best, while the train loss
    fell in each: the turn to overfitting. In a run under SHORT_RUN epochs, all tail, its last SHORT_TURN epochs
    (pass 5, from the corpus: u014 and u035, labelled overfitting: 4 and 6 epochs, val loss +8% and +21% over its last
    2 and 5 epochs as the train loss fell in each; healthy t036 rose in its last epoch only, t006 with a train loss that
    rose as well. t048 turns as clearly, +30%, but at losses of 0.02-0.03, under the loss scale's floor: still missed).
    In a longer run its last LONG_TURN epochs, rising SHORT_TURN_RISE over them (pass 7: y005 and v009, labelled
    overfitting: 14 and 31 epochs, val loss up in each of the last 4, by 5% and 6%; y026, healthy, rose in its last 3
    only; a healthy generated twin on digits, 40 epochs of Adam, creeps up 3% over its last 4 as its train loss
    nears 0)."""
    turn = SHORT_TURN if c.epochs < SHORT_RUN else LONG_TURN
    if c.val_loss is None or c.epochs <= turn:
        return None
    val_steps, train_steps = np.diff(c.val_loss[-turn - 1:]), np.diff(c.loss[-turn - 1:])
    rise = (c.val_loss[-1] - c.val_loss[best]) / c.scale(c.val_loss[best])
    turn_rise = (c.val_loss[-1] - c.val_loss[-turn - 1]) / c.scale(c.val_loss[-turn - 1])
    if (np.any(val_steps <= 0) or np.any(train_steps >= 0) or rise < SHORT_TURN_RISE
            or (turn == LONG_TURN and turn_rise < SHORT_TURN_RISE)):
        return _last_epoch_jump(c, best) if turn == SHORT_TURN else None
    return (f"val_loss best {c.val_loss[best]:.3g} at epoch {c.epoch(best)}, then up in each of the last "
            f"{turn} epochs to {c.val_loss[-1]:.3g} (+{rise:.0%}) while loss fell in each, to {c.loss[-1]:.3g}",
            confidence(rise / SHORT_TURN_RISE - 1))


def _last_epoch_jump(c: Curves, best: int) -> tuple[str, float] | None:
    """In a run under SHORT_RUN epochs, a val loss that jumped OVERFIT_RISE above its best in the last epoch alone,
    while the train loss fell and the val accuracy fell with it: the turn, seen one epoch in. Pass 8, from the
    corpus: h019 and q004, labelled overfitting (3 epochs each: val loss +29% and +38% in the last, val accuracy
    -0.03 and -0.01) and g028 (7 epochs, +23%, -0.02). h011 (overfitting, a low-confidence call of both labellers:
    +8% in its last epoch) stays under the bar; q009 (healthy, +28%, -0.01) holds it but reads val_above_train first.
    A jump no larger than an earlier rise is one more swing of a zigzag (pass 10, from the thirteenth corpus: l016,
    healthy, 5 epochs of val loss 0.33, 0.22, 0.32, 0.19, 0.27)."""
    if c.val_accuracy is None:
        return None
    rise = (c.val_loss[-1] - c.val_loss[best]) / c.scale(c.val_loss[best])
    steps = np.diff(c.val_loss)
    if (rise < OVERFIT_RISE or steps[-1] <= 0 or c.loss[-1] >= c.loss[-2] or c.val_accuracy[-1] >= c.val_accuracy[-2]
            or np.any(steps[1:-1] >= steps[-1])):  # one more swing of a zigzag (after epoch 1's warm-up) is no turn
        return None
    return (f"val_loss best {c.val_loss[best]:.3g} at epoch {c.epoch(best)}, then {c.val_loss[-1]:.3g} (+{rise:.0%}) "
            f"in the last epoch as val_accuracy fell to {c.val_accuracy[-1]:.3g} and loss to {c.loss[-1]:.3g}",
            confidence(rise / OVERFIT_RISE - 1))


def _val_stalled_as_train_fell(c: Curves) -> tuple[str, float] | None:
    """The val loss stalled while the train loss kept falling fast and the accuracy gap opened (STALLED_GAP says
    from which logs): the model learns its training set only, though the val loss has not risen yet."""
    if c.accuracy is None or c.val_accuracy is None:
        return None
    val_slope, train_slope = c.late_slope(c.val_loss), c.late_slope(c.loss)
    gaps = smooth(c.accuracy) - smooth(c.val_accuracy)
    span = min(c.epochs, c.last_third)
    # each test passes only when true, so that a NaN accuracy (a comparison that is always False) is no evidence
    if not (val_slope > -STALLED_VAL_SLOPE and train_slope <= -STALLED_TRAIN_FALL and gaps[-1] >= STALLED_GAP
            and gaps[-1] - gaps[-span] >= OVERFIT_GAP_GROWTH):
        return None
    return (f"val_loss {val_slope:+.1%}/epoch over the last {span} epochs while loss went {train_slope:+.1%}/epoch "
            f"and the accuracy gap grew {gaps[-span]:.2f} -> {gaps[-1]:.2f}", confidence(gaps[-1] / STALLED_GAP - 1))


def _gap_opening(c: Curves, best: int) -> bool:
    """Short of a converged fit, the val loss rising (FLAT_SLOPE per epoch over the last third) from a best before the
    tail while the smoothed train loss fell OVERFIT_TRAIN_FALL since: the model learns only its training set
    (LABELS.md: "the training loss keeps falling while the validation loss rises"). The corpus' r050 and r055 (fits
    0.81, 0.57; val +0.8% and +1.0%/epoch, train -30% and -11% since) were labelled overfitting by both labellers;
    their val losses rose only 3-7% in all.
    """
    if c.fit()[0] >= CONVERGED_FIT or best >= c.epochs - c.tail:
        return False
    train = smooth(c.loss)
    return c.late_slope(c.val_loss) >= FLAT_SLOPE and train[-1] <= (1 - OVERFIT_TRAIN_FALL) * train[best]


def _train_fell_as_val_accuracy_slipped(c: Curves, low: int) -> bool:
    """The smoothed train loss fell OVERFIT_NOISY_TRAIN_FALL since the val loss' best, OVERFIT_LONG_SINCE of the run
    before the end, while the val accuracy fell OVERFIT_VAL_ACC_SLIP from a best before the tail: LABELS.md's "the
    training loss keeps falling while the validation loss rises clearly from its best (and/or validation accuracy
    falls from its best)", for a train loss whose noisy steps hide that fall from _net_trend. Pass 10, from the
    thirteenth corpus: l008 (labelled overfitting: train loss 0.01 -> 0.003 in noisy steps, a net trend of 0.05; val
    loss 0.067 -> 0.113 from a best 60% of the run before the end; val accuracy 0.983 -> 0.969). The healthy
    SGD-momentum control (OVERFIT_RISE_GAP) ends at its best val accuracy."""
    sl = smooth(c.loss)
    if (c.val_accuracy is None or not _long_since(c, low, OVERFIT_LONG_SINCE)
            or sl[-1] > (1 - OVERFIT_NOISY_TRAIN_FALL) * sl[low]):
        return False
    val = smooth(c.val_accuracy)
    return int(np.argmax(val)) < c.epochs - c.tail and float(np.max(val) - val[-1]) >= OVERFIT_VAL_ACC_SLIP


def _train_fell_steadily_since(c: Curves, low: int, since: float = 0.0) -> bool:
    """The train loss fell steadily (OVERFIT_TRAIN_STEADY) from the val loss' best at `low`, which lies at least
    `since` of the run before the end."""
    return _long_since(c, low, since) and _net_trend(c.loss[low:]) >= OVERFIT_TRAIN_STEADY


def _long_since(c: Curves, epoch: int, share: float) -> bool:
    """`epoch` lies at least `share` of the run before its end."""
    return c.epochs - 1 - epoch >= share * c.epochs


def _accuracies_show_overfitting(c: Curves) -> bool:
    """A train-val accuracy gap, or a val accuracy below its best, of OVERFIT_RISE_GAP (True without accuracies)."""
    if c.accuracy is None or c.val_accuracy is None:
        return True
    train, val = smooth(c.accuracy), smooth(c.val_accuracy)
    return bool(train[-1] - val[-1] >= OVERFIT_RISE_GAP or np.max(val) - val[-1] >= OVERFIT_RISE_GAP)


def _underfitting(c: Curves) -> Diagnosis | None:
    """Fit below CONVERGED_FIT, read on the watched loss (val loss, else loss): still falling is too_slow, flat a
    plateau, gently improving healthy while it converges (LATE_SHARE) and too_slow while it keeps a steady pace."""
    if c.epochs < MIN_EPOCHS:
        return None
    fit, fit_evidence = c.fit()
    gaining = _still_gaining_fast(c) if fit >= CONVERGED_FIT else ""
    if fit >= CONVERGED_FIT and not _loss_above_chance_and_falling(c) and not gaining:
        return None
    name, watched = c.losses()[-1]
    slope, train_slope = c.late_slope(watched), c.late_slope(c.loss)
    s = smooth(watched)
    fall = float(s[0] - np.min(s))
    span = min(c.epochs, c.last_third)
    late = float(s[-span] - s[-1]) / fall if fall > 0 else 1.0
    short = (f"(converged from {CONVERGED_FIT:.0%})" if fit < CONVERGED_FIT else
             f"but val_accuracy still gains {gaining}" if gaining else
             f"but the loss, {float(smooth(c.loss)[-1]):.3g}, is still above ln C = {c.chance_loss:.3g}")
    evidence = (f"{fit_evidence} {short}; over the last "
                f"{span} epochs {name} {slope:+.1%}/epoch ({late:.0%} of its fall), loss {train_slope:+.1%}/epoch")
    # still learning: the watched loss falls clearly, or both fall at least gently (a flat train loss beside a
    # gently falling val loss is noise around a plateau: a 2% wiggle tilts a 6-epoch slope by 0.4%/epoch)
    learning = (slope <= -FLAT_SLOPE or max(slope, train_slope) <= -STUCK_MAX_FALL
                or train_slope <= -TRAIN_STILL_FALLING * FLAT_SLOPE)
    if learning and slope > -FLAT_SLOPE and late < LATE_SHARE and fit >= CONVERGING_MIN_FIT:
        return None  # gently improving and converging: healthy at the fit this task allows
    # A loss that blew up in epoch 1 (the default digits grid's lr 0.1: 5.56 from an untrained 2.32, then 1.58) and
    # still falls at the end is too_slow by its curve, but the cure is not a higher learning rate: the blow-up is the
    # cause (_with_blow_up puts its advice first) and the advice here is more epochs only. Pass 8: the ninth corpus'
    # h003 (27.2 in epoch 1 = 25x ln 3, then 3.48 ... 1.23, still falling) and k019 (225 = 325x ln 2, then 26.4 ... 1.47)
    # were both labelled too_slow with the cause blew_up; the pass-7 rules read them as a plateau. Without the
    # untrained loss an epoch-1 mean far above ln C that halves at once may be that blow-up too; one that falls
    # steadily is the loss' own level (the corpus' r063, labelled too_slow: 5.43, 4.84, ... 0.78 with binary labels,
    # a regularisation term in the loss).
    if learning:
        return Diagnosis(Label.TOO_SLOW, f"still improving at the last epoch: {_too_slow_advice(c)}{c.lr_note()}",
                         evidence, confidence(-slope / FLAT_SLOPE - 1))
    if fit >= CEILING_FIT and not learning and _learned_something(c):
        return None  # flat where a real task may top out: healthy (CEILING_FIT says why)
    return Diagnosis(Label.PLATEAU, f"{ADVICE[Label.PLATEAU]}{c.lr_note()}",
                     evidence, confidence((CONVERGED_FIT - fit) / (1 - CONVERGED_FIT)))


def _too_slow_advice(c: Curves) -> str:
    bad_start = (c.initial_loss is None and c.num_classes and c.epochs > 1
                 and is_bad_initial_loss(c.loss[0], c.num_classes) and c.loss[1] <= c.loss[0] / 2)
    return "train for more epochs" if blew_up_in_epoch_1(c) or bad_start else ADVICE[Label.TOO_SLOW]


def _still_gaining_fast(c: Curves) -> str:
    """Over a run of at least TAIL_EPOCHS, the val loss still falling STILL_GAINING_SLOPE per epoch at the end while the
    val accuracy gains STILL_GAINING_ACC of the chance-to-perfect range per epoch over its last 2 epochs: the
    evidence of a run cut off mid-climb, whatever fit it reached; else "" (a val accuracy that stopped while its
    loss still falls is settling: the 6-epoch digits run of tests/training/test_probes.py, 0.938 thrice)."""
    if c.val_loss is None or c.val_accuracy is None or c.epochs < TAIL_EPOCHS:
        return ""
    gain = float(np.mean(np.diff(c.val_accuracy[-3:]))) / (1 - c.chance_accuracy)
    # at 1.0 nothing is left to gain, whatever the last step: the eighth corpus' q012 (healthy, 16 validation images
    # at 0.94, then 1.0 twice) read too_slow with "still gains 6% of the range per epoch" beside "val_accuracy 1"
    headroom = 1 - c.range_share(float(c.val_accuracy[-1]))
    slope = c.tail_slope(c.val_loss)
    if slope > -STILL_GAINING_SLOPE or min(gain, headroom) < STILL_GAINING_ACC:
        return ""
    return f"{gain:.0%} of the range per epoch as val_loss falls {slope:+.0%}/epoch"


def _learned_something(c: Curves) -> bool:
    """The smoothed train loss ended DATA_TRAIN_FLAT below its first epoch's: the run got somewhere before it
    stopped (a loss flat from epoch 1 on has learned nothing in this run; from the first epoch, not the median of the
    first three, which in a 5-epoch run is the end's: t006)."""
    return float(smooth(c.loss)[-1]) <= (1 - DATA_TRAIN_FLAT) * float(c.loss[0])


def _change(c: Curves, values: np.ndarray) -> tuple[float, float, float]:
    """A curve's start and end (medians of the first and last SMOOTH_WINDOW epochs) and the change between them,
    a share of the loss scale."""
    start, end = (float(np.median(v)) for v in (values[:SMOOTH_WINDOW], values[-SMOOTH_WINDOW:]))
    return start, end, (end - start) / c.scale(start)


def _loss_above_chance_and_falling(c: Curves) -> bool:
    """The train loss still above ln C and falling FLAT_SLOPE per epoch at the end: far from converged, whatever the
    accuracies say (a regularisation term or a huge start dominates it). The corpus' n007 (labelled too_slow: 4 signs,
    val accuracy 1.0 on 6 samples, loss 10.4 -> 6.3 = 4.6x ln 4, -4.7%/epoch) and r063 (too_slow, 1.2x ln 2); r064
    (overfitting, 6.8x ln 2) has a flat tail."""
    return (c.chance_loss is not None and float(smooth(c.loss)[-1]) > c.chance_loss
            and c.tail_slope(c.loss) <= -FLAT_SLOPE)


def _healthy(c: Curves) -> Diagnosis:
    """No rule holds. "More epochs should help" only while the val loss (else the loss) is still at its lowest in
    the tail and falling there: never beside a best epoch long past (the issue's "best 0.053 at epoch 14, last
    0.103")."""
    fit, _ = c.fit()
    watched = c.val_loss if c.val_loss is not None else c.loss
    lowest = int(np.argmin(watched))
    slope = c.tail_slope(watched)
    improving = slope <= -FLAT_SLOPE and lowest >= c.epochs - c.tail
    name = "val_loss" if c.val_loss is not None else "loss"
    # "over the last N epochs", with its slope: beside a last epoch a little above the best (the twelfth corpus'
    # a002: best at epoch 19 of 20) "at the last epoch" read as a contradiction of the evidence
    return Diagnosis(Label.HEALTHY, ADVICE[Label.HEALTHY] +
                     (f"; still improving over the last {c.tail} epochs ({name} {slope:+.1%}/epoch), so more epochs "
                      "should help" if improving else ""),
                     _summary(c), confidence((fit - CONVERGED_FIT) / (1 - CONVERGED_FIT)))


def _summary(c: Curves) -> str:
    """Where the val loss was best and ended, and how far the accuracy got: the numbers any label is read from."""
    best = ""
    if c.val_loss is not None:
        lowest = int(np.argmin(c.val_loss))
        best = f"val_loss best {c.val_loss[lowest]:.3g} at epoch {c.epoch(lowest)}, last {c.val_loss[-1]:.3g}; "
    return best + c.fit()[1]


# Plateau and too_slow describe how a working run converges; beside a broken run they only restate it.
_BROKEN = (Label.NAN, Label.DIVERGING, Label.STUCK_AT_CHANCE)
_CONVERGENCE = (Label.PLATEAU, Label.TOO_SLOW)

# Rules for the finite part of a history (find_nan looks at all of it).
_CURVE_RULES: tuple[Callable[[Curves], Diagnosis | None], ...] = (
    find_diverging, find_stuck_at_chance, _stuck_over_the_run, _bad_initial_loss, _data_suspect, _val_above_train,
    _oscillating, _overfitting, _underfitting)


def diagnose(history: Mapping[str, Sequence[float]], num_classes: int | None = None, *,
             initial_loss: float | None = None, majority_rate: float | None = None,
             probes: Mapping[str, Any] | None = None, first_epoch: int = 1,
             train_only: Sequence[str] = (), second_opinion: bool = False) -> Diagnosis:
    """Label a trial from its per-epoch history ("loss" required; val_loss, accuracy, val_accuracy optional).

    `num_classes` None: the rules that need it (NEEDS_CLASSES) are skipped (logs.diagnose_log infers it where
    the log allows); `initial_loss` is the untrained model's loss (else the probe batch's before training, else
    the first epoch's); `majority_rate` the majority-class share, which raises chance accuracy above 1/C on
    imbalanced data; `probes` the stats of probes.ProbeCallback, whose cause flags join the flags; `first_epoch`
    the number the log gives its first epoch (messages number epochs as the log does); `train_only` the model's
    layers that act only in training (training.lint.training_only_layers), which explain a val_above_train shape;
    `second_opinion`: let the forest of second_opinion.py overrule a judgment of degree, as logs.diagnose_log does
    for a log made elsewhere. A gridsearch trial gets the rules alone: they were designed and scored on trials
    (benchmarks/DIAGNOSIS.md), where the forest cost 2 of 52 detections (two relu_before_softmax runs at chance
    loss, read plateau by the rules, it called healthy).
    """
    if initial_loss is None and probes and probes.get("initial_loss") is not None:
        initial_loss = float(probes["initial_loss"])
    curves = Curves.from_history(history, num_classes, initial_loss=initial_loss, majority_rate=majority_rate,
                                 first_epoch=first_epoch, train_only=train_only)
    primary = _diagnose_curves(curves, second_opinion)
    causes = find_causes(probes)
    if causes:
        primary = dataclasses.replace(primary, flags=primary.flags + tuple(c.label for c in causes), causes=causes)
    return with_probe_cause(primary, probes)


def _diagnose_curves(curves: Curves, second_opinion: bool = False) -> Diagnosis:
    if curves.epochs and not np.any(curves.loss):
        # A loss of exactly 0 in every epoch is no training: Keras logs that when no batch was seen (an empty
        # dataset or generator). The tenth real-log corpus' d008 (27 classes, loss and accuracies 0.0 in all 21
        # epochs), labelled unknown ("no usable loss") by both labellers, read stuck_at_chance before.
        return Diagnosis(Label.UNKNOWN, "check that the training data is not empty (no batch seems to have run): "
                         "the loss is exactly 0 in every epoch", f"loss 0 in all {curves.epochs} epochs", 0.0)
    bad = curves.first_non_finite()
    finite = curves if bad is None else curves.head(bad)
    hits = [hit for hit in (find_nan(curves), *(rule(finite) for rule in _CURVE_RULES)) if hit is not None]
    if all(_flag_only(hit, curves) for hit in hits):  # none, or only flags: healthy, or too short to tell
        hits.append(_healthy(curves) if curves.epochs >= MIN_EPOCHS else Diagnosis(
            Label.UNKNOWN, f"train for at least {MIN_EPOCHS} epochs, with validation data, to get a diagnosis",
            f"{curves.epochs} epoch(s) of history", 0.0))
    hits.sort(key=lambda hit: (_flag_only(hit, curves), PRIORITY.index(hit.label)))
    primary = hits[0]
    others = list(dict.fromkeys(hit.label for hit in hits[1:] if hit.label is not primary.label))
    primary = dataclasses.replace(primary, flags=_flags(primary.label, others))
    if second_opinion:
        primary = _second_opinion(primary, hits, curves)
    return _with_blow_up(primary, finite)


def _flags(label: Label, others: Sequence[Label]) -> tuple[Label, ...]:
    return tuple(other for other in others if other is not label and not (label in _BROKEN and other in _CONVERGENCE))


def forest_overrules(label: Label, forest_label: Label, share: float, c: Curves) -> bool:
    """Whether the forest's label replaces the rules' on these curves: one test for the diagnosis and for the real-log
    benchmark (real.py) that weighs it. Layers that act only in training explain a val_above_train shape
    (_flag_only): the forest does not name it then."""
    return (forest_may_judge(label, c) and overrules(label, forest_label, share)
            and not (forest_label is Label.VAL_ABOVE_TRAIN and c.train_only))


def _second_opinion(primary: Diagnosis, hits: Sequence[Diagnosis], c: Curves) -> Diagnosis:
    """The forest's label where it overrules the rules' (second_opinion.py), with the rule's own advice and evidence
    for that label when a rule found it, else the label's plain advice beside the curve's numbers, and the rules'
    reading kept beside it. Healthy gets no "more epochs should help": the rules saw something else in that tail."""
    found = opinion(c) if forest_may_judge(primary.label, c) else None  # mechanisms its measurements cannot see
    if found is None or not forest_overrules(primary.label, found[0], found[1], c):
        return primary
    label, share, trained_on = found
    own = next((hit for hit in hits if hit.label is label), None)
    plain = _too_slow_advice(c) if label is Label.TOO_SLOW else ADVICE[label]
    without_c = table_for(c) == TABLE_WITHOUT_CLASSES
    measured = " (measured without the number of classes, as this log is)" if without_c else ""
    evidence = (f"{share:.0%} from a forest of boosted trees trained on {trained_on} real logs labelled by two "
                f"blind labellers{measured}; {own.evidence if own else _summary(c)}; the rules read {primary.label}: "
                f"{primary.evidence}")
    return Diagnosis(label, own.advice if own else f"{plain}{c.lr_note()}", evidence, round(share, 2),
                     _flags(label, [primary.label, *primary.flags]))


def _flag_only(hit: Diagnosis, c: Curves) -> bool:
    """A bad initial loss read from an epoch-1 MEAN (no untrained loss: a log made elsewhere) is a flag, never
    primary: the mean holds the first epoch's updates, and the corpus' labellers, who act on curve shapes, never gave
    it (r063 too_slow, r064 overfitting: epoch-1 means of 7.8x and 8.8x ln 2, both falling after).
    So is val_above_train when the model is known to have layers that act only in training: they explain it. The
    generated benchmark's dropout 0.2 + L2 controls on digits (val 0.92-0.93 over train 0.81-0.86 all run) reach
    their fault-free twin's accuracy; as primary they were its only false alarms (3/22)."""
    return ((hit.label is Label.BAD_INITIAL_LOSS and c.initial_loss is None) or
            (hit.label is Label.VAL_ABOVE_TRAIN and bool(c.train_only)))


def _with_blow_up(primary: Diagnosis, c: Curves) -> Diagnosis:
    """A blow-up in epoch 1 is the cause, whatever the later curve looks like: its advice comes first."""
    blew_up = "" if primary.cause or primary.label is Label.UNKNOWN else blew_up_in_epoch_1(c)
    if not blew_up:
        return primary
    how = ("far too high: lower it 10-1000x" if primary.label in _BROKEN else
           "too high for the start: lower it 3-10x or warm it up over the first epochs")
    return dataclasses.replace(primary, cause=CAUSE_BLEW_UP, advice=f"{blew_up}: the learning rate is {how}; then "
                               f"{primary.advice}")
