"""The approval webhook (`modelship.operator.admission`).

Faked: nothing for the review (a pure function of the AdmissionReview); the server runs for real
on a free local port with generated certificates, and the authorizer's answer is given by the test.
"""
