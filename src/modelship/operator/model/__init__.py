"""The Model controller: keep each Model trained (observe its TrainingJobs and Deployments,
decide whether a TrainingJob is due and what status says, apply), with automatic retraining's
signals and guardrails and the dataset probes that notice a changed dataset."""
