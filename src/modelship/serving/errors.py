"""The serving error hierarchy: every refusal knows its HTTP status.

Layers below the endpoints raise these without knowing about HTTP responses; one exception
handler in the app renders them as `{"error": "..."}`. Anything else that escapes is a bug and
becomes a 500 without a traceback in the body, so bad input can only ever produce a 4xx.
"""

from __future__ import annotations


class ModelshipServingError(Exception):
    """Base class: a message meant for the client and the status code that goes with it."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(ModelshipServingError):
    """The request is well-formed HTTP but its content cannot be used as model input."""

    status_code = 400


class MalformedJSONError(InvalidInputError):
    """The body is not JSON (or not the JSON object the protocol expects)."""


class TooManyRowsError(InvalidInputError):
    """More rows than `limits.max_rows` in one request."""


class ModelNotFoundError(ModelshipServingError):
    """Another model name or version than the one this process serves."""

    status_code = 404


class PayloadTooLargeError(ModelshipServingError):
    """The body is larger than `limits.max_body_bytes`."""

    status_code = 413


class ModelNotReadyError(ModelshipServingError):
    """The model is not loaded (yet, or ever: its artifact failed verification)."""

    status_code = 503


class OverloadedError(ModelshipServingError):
    """Too many requests in flight: shed load rather than queue without bound."""

    status_code = 503


class PredictionFailedError(ModelshipServingError):
    """The estimator raised on input we had validated: our bug or the artifact's."""

    status_code = 500
