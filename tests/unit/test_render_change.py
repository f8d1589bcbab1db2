"""A change in risk reads with its true sign, and its interval is ordered."""

from __future__ import annotations

from assistant.render import change_text


def test_a_fall_in_risk_says_down_with_the_interval_of_the_reduction():
    assert change_text(-0.021, (-0.024, -0.018)) == "down 2.1 points, interval 1.8 to 2.4"


def test_a_rise_in_risk_says_up_never_down():
    text = change_text(0.044, (0.039, 0.049))
    assert text == "up 4.4 points, interval 3.9 to 4.9"
    assert "down" not in text


def test_an_interval_across_zero_keeps_its_order_and_sign():
    assert change_text(-0.01, (-0.03, 0.01)) == "down 1.0 points, interval -1.0 to 3.0"


def test_one_student_has_no_interval_and_no_change_is_said_plainly():
    assert change_text(-0.05, (-0.05, -0.05)) == "down 5.0 points"
    assert change_text(0.0001, (0.0, 0.0002)) == "no change"
