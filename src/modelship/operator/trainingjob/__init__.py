"""The TrainingJob controller: one training Job per attempt, retries counted on the TrainingJob,
the trainer's summary read from its pod, the Model's gates applied."""
