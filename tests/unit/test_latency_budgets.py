"""The ServingValidator's latency budgets: as given for sequences of up to
100 steps, in proportion to the timed requests' longest sequence beyond."""

from noisy_rnn.components.serving_validator import clean_check

BUDGETS = {"p50_batch_1": 20.0, "p50_batch_64": 60.0}


def test_budgets_hold_as_given_for_short_sequences():
    check = clean_check.check_latency(
        {"p50_batch_1": 5.0, "p50_batch_64": 70.0}, BUDGETS, steps=29)
    assert not check["passed"]
    assert check["detail"] == "over budget: p50_batch_64 70.00 ms > 60 ms"


def test_budgets_grow_with_the_sequences_beyond_100_steps():
    latency = {"p50_batch_1": 5.0, "p50_batch_64": 140.0}
    check = clean_check.check_latency(latency, BUDGETS, steps=251)
    assert check["passed"], check
    assert check["detail"].endswith(
        "(budgets x 2.51 for 251-step sequences)")
    assert "p50_batch_64 140.00 ms (budget 150.6)" in check["detail"]
    over = clean_check.check_latency(latency, BUDGETS, steps=200)
    assert not over["passed"]
    assert "p50_batch_64 140.00 ms > 120 ms" in over["detail"]
