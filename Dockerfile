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

# --- build: a virtualenv with exactly the versions of uv.lock (all of them ship wheels) ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/modelship
WORKDIR /src
# uv, pinned by hash, installs the lock; it stays in this stage.
COPY hack/uv-requirements.txt ./hack/
RUN pip install --require-hashes --no-deps --requirement hack/uv-requirements.txt
# Dependencies first, from pyproject.toml and uv.lock alone, so a source change does not reinstall
# them: the runtime set and the locked setuptools that builds the project (`build` group), no
# extras. `--locked` refuses a lock that does not match pyproject.toml.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-install-project --group build
COPY README.md ./
COPY src ./src
# The project as a wheel (not editable), built without isolation by that setuptools, which then
# leaves: the image runs what production needs and nothing that builds.
RUN uv sync --locked --no-editable --group build \
 && uv pip uninstall --python /opt/modelship/bin/python setuptools

# --- final: the same base, the virtualenv, a non-root user; no compiler, no pip or uv in the venv
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="modelship" \
      org.opencontainers.image.description="The MLOps loop as Kubernetes custom resources" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# libgomp1: the OpenMP runtime LightGBM's lib_lightgbm.so links against (the xgboost-cpu wheel
# bundles its own); python:3.11-slim does not have it (tests/unit/test_system_deps.py checks).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*
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
