from common.parallel import submitted_ahead


def test_submitted_ahead_keeps_order_and_depth():
    submitted = []

    def submit(task):
        submitted.append(task)
        return task * 10

    seen = []
    for handle in submitted_ahead(range(7), submit, depth=3):
        # besides the awaited task, up to 3 more are already submitted, never more
        assert len(submitted) - (len(seen) + 1) == min(3, 7 - (len(seen) + 1))
        seen.append(handle)
    assert seen == [0, 10, 20, 30, 40, 50, 60] and submitted == list(range(7))
    assert list(submitted_ahead([], submit, depth=2)) == []
