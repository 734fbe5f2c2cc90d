"""The TrainingJob controller (`modelship.operator.trainingjob`).

Faked: nothing for the state machine (`decide`), which takes the attempt as observed and the
time; the API server (`FakeKube`) and Event posting (`posted`) for observe -> decide -> apply.
A trainer's report is its real termination line (`TrainerSummary.termination_line`).
"""
