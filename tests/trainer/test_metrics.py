"""Detection scores from boxes in hand (trainer.metrics), on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.metrics import ImageBoxes, average_precision, box_map, match


def image(preds, truths) -> ImageBoxes:
    """preds: (x1, y1, x2, y2, conf, cls); truths: (x1, y1, x2, y2, cls)."""
    p = np.array(preds, np.float32).reshape(-1, 6)
    t = np.array(truths, np.float32).reshape(-1, 5)
    return ImageBoxes(p[:, :4], p[:, 4], p[:, 5].astype(int), t[:, :4], t[:, 4].astype(int))


def test_boxes_on_their_labels_score_one_and_a_wrong_digit_scores_nothing():
    truths = [(0, 0, 10, 20, 3), (12, 0, 22, 20, 5)]
    right = box_map([image([(0, 0, 10, 20, 0.9, 3), (12, 0, 22, 20, 0.8, 5)], truths)])
    assert (right["map50"], right["map50_95"]) == (1.0, 1.0)
    assert right["per_digit"]["4"]["ap50_95"] == 1.0 and right["per_digit"]["1"]["ap50_95"] is None  # class 3 is "4"
    # The same boxes, each called the other digit: no label of theirs under them.
    swapped = box_map([image([(0, 0, 10, 20, 0.9, 5), (12, 0, 22, 20, 0.8, 3)], truths)])
    assert (swapped["map50"], swapped["map50_95"]) == (0.0, 0.0)


def test_a_loose_box_counts_only_at_the_iou_thresholds_it_reaches():
    # A 10x20 label and the same box 2 px to the right: IoU 160 / 240 = 0.667.
    tp = match(np.array([[2, 0, 12, 20]]), np.array([0.9]), np.array([1]), np.array([[0, 0, 10, 20]]), np.array([1]))
    assert tp[0].tolist() == [True, True, True, True] + [False] * 6  # 0.50, 0.55, 0.60, 0.65
    report = box_map([image([(2, 0, 12, 20, 0.9, 1)], [(0, 0, 10, 20, 1)])])
    assert report["map50"] == 1.0 and report["map50_95"] == pytest.approx(0.4)


def test_a_label_is_taken_once_by_the_more_confident_box_and_the_next_takes_a_free_one():
    # Two boxes of the right digit over one label: up to IoU 0.80 the more confident one (IoU
    # 0.818) is the hit, though the other fits exactly, and the other is a false positive there, as
    # in COCO; from 0.85 the confident one falls short and the exact one takes the label.
    tp = match(np.array([[1, 0, 11, 20], [0, 0, 10, 20]]), np.array([0.9, 0.8]), np.array([2, 2]),
               np.array([[0, 0, 10, 20]]), np.array([2]))
    assert tp[0].tolist() == [True] * 7 + [False] * 3 and tp[1].tolist() == [False] * 7 + [True] * 3
    # Labels [0, 10] and [4, 14] (x; all 20 high). A box on the first (conf 0.9) takes it; a box at
    # [1, 11] (conf 0.8) overlaps the first by 9/11 and the second by 7/13 = 0.538, so with the
    # first taken it takes the second, at IoU 0.50 only.
    tp = match(np.array([[0, 0, 10, 20], [1, 0, 11, 20]]), np.array([0.9, 0.8]), np.array([4, 4]),
               np.array([[0, 0, 10, 20], [4, 0, 14, 20]]), np.array([4, 4]))
    assert tp[0].all() and tp[1].tolist() == [True] + [False] * 9


def test_average_precision_is_the_envelope_sampled_at_101_recall_points():
    # Two labels; ranked predictions: hit (0.9), miss (0.8), hit (0.7). Precision 1 up to recall
    # 0.5, then 2/3 up to recall 1: (51 * 1 + 50 * 2/3) / 101.
    tp = np.array([[True], [False], [True]])
    ap = average_precision(tp, np.array([0.9, 0.8, 0.7]), 2)
    assert ap[0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # Ranked the other way round, the miss first: precision 1/2 up to recall 0.5, 2/3 beyond.
    ap = average_precision(tp, np.array([0.7, 0.9, 0.8]), 2)
    assert ap[0] == pytest.approx((51 * 2 / 3 + 50 * 2 / 3) / 101)
    # A label no prediction reaches caps recall at 1/2: the points above it score 0.
    ap = average_precision(np.array([[True]]), np.array([0.9]), 2)
    assert ap[0] == pytest.approx(51 / 101)


def test_map_is_the_mean_over_the_digits_that_have_labels_and_a_photo_with_no_boxes_counts():
    truths = [(0, 0, 10, 20, 0), (12, 0, 22, 20, 1)]
    # Digit "1" found, digit "2" missed: mAP 0.5. A stray box on a second photo with no labels
    # ranks above the hit: digit "1"'s precision is 1/2 up to its only recall point.
    report = box_map([image([(0, 0, 10, 20, 0.8, 0)], truths), image([(5, 5, 15, 25, 0.9, 0)], [])])
    assert report["map50"] == pytest.approx(0.25) and report["images"] == 2 and report["boxes"] == 2
    assert report["per_digit"]["1"]["precision"] == 0.5 and report["per_digit"]["1"]["recall"] == 1.0
    assert report["per_digit"]["2"]["ap50_95"] == 0.0
