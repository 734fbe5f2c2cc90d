"""Reserved for the BatchPrediction controller (batch scoring): one package per kind."""
