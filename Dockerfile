# One image for the operator, the trainer, the inference server and the acceptance checker.
# The default command runs the operator; the operator starts the other three from this image
# with an explicit command:
#   python -m modelship.operator | modelship.training | modelship.serving | modelship.acceptance
# Only what production runs: the distribution leaves out the local cluster and the demo
# (modelship.devcluster, modelship.demo; see packages.find in pyproject.toml), and
# tests/unit/test_packaging.py builds this same wheel and checks every module in it imports.
#
#   docker build -t modelship:0.1.0 .        (or: make image)

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the project and its dependencies (all of them ship wheels) ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/modelship
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && /opt/modelship/bin/pip install --requirement requirements.txt
COPY README.md ./
COPY src ./src
RUN /opt/modelship/bin/pip install --no-deps . \
 && /opt/modelship/bin/pip uninstall --yes pip

# --- final: the same base, the virtualenv, a non-root user; no compiler, no pip in the venv ----
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="modelship" \
      org.opencontainers.image.description="The MLOps loop as Kubernetes custom resources" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A numeric user, so runAsNonRoot can verify it without reading /etc/passwd. Pods mount the
# catalog and an emptyDir at /tmp; the root filesystem can stay read-only (HOME=/tmp).
RUN groupadd --system --gid 10001 modelship \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin modelship
COPY --from=build /opt/modelship /opt/modelship
ENV PATH=/opt/modelship/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
CMD ["python", "-m", "modelship.operator"]
