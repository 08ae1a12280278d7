import numpy as np
import pytest

from relevance.model.threshold import ObjectiveNotMet, choose_threshold


def test_f1_threshold_by_hand():
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    # keep top 2: P=1 R=2/3 F1=.8 ; top 4: P=.75 R=1 F1=.857 (best)
    c = choose_threshold(y, p)
    assert c.f1 == pytest.approx(6 / 7)
    assert 0.2 < c.threshold <= 0.6
    assert ((p >= c.threshold) == [True, True, True, True, False, False]).all()


def test_min_precision_picks_highest_recall_meeting_floor():
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    c = choose_threshold(y, p, "min_precision", min_precision=0.9)
    assert c.precision >= 0.9 and c.recall == pytest.approx(2 / 3)
    assert ((p >= c.threshold).sum()) == 2


def test_unreachable_floor_is_refused():
    y = np.array([0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6])
    with pytest.raises(ObjectiveNotMet, match="precision"):
        choose_threshold(y, p, "min_precision", min_precision=0.99)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="both"):
        choose_threshold(np.ones(3), np.array([0.1, 0.2, 0.3]))
