"""The evaluation of served versions against labels that arrived later (ground truth).

Reads capture and label segments (`catalog.segments`), joins them by prediction id and reports
per-version totals with confidence intervals. The join and the intervals are pure functions
(`join.py`, `intervals.py`); the Job that runs them on a schedule and reports to the operator is
`python -m modelship.monitoring` (`evaluation.py`): the only process that reads rows; the
operator never does.
"""
