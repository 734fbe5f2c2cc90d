"""The BatchPrediction controller (`modelship.operator.batch`).

Faked: nothing for resolve, decide and the builders (typed observations in); the API server
(`FakeKube`) and Event posting (`posted`) for observe -> decide -> apply. A batch pod's report
is its real termination line (`BatchReport.to_message`).
"""
