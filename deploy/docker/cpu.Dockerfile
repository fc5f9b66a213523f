# Courier embedding service on CPU: the `serve` and `cpu` extras (onnxruntime, FastAPI, Redis client), no torch.
#   docker build -f deploy/docker/cpu.Dockerfile -t courier:cpu .
#   docker run -p 8000:8000 -v "$PWD/models:/models:ro" -e COURIER_MODEL_NAME=courier-demo courier:cpu
# The model repository is mounted at /models, or baked in with --build-arg MODELS=models (a path in the
# build context; .dockerignore lets `models/` through). Dependencies are installed under the lock
# deploy/docker/constraints-cpu.txt (regenerate it with `python deploy/docker/lock.py`).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY deploy/docker/constraints-cpu.txt ./
COPY pyproject.toml README.md ./
COPY courier_core ./courier_core
COPY service ./service
# the `courier` console script (`courier serve`, `courier backfill ...`): the standard library only
COPY courier_cli ./courier_cli
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --constraint constraints-cpu.txt ".[serve,cpu]" \
    && /opt/venv/bin/python -c "import service.app, onnxruntime; print(onnxruntime.get_available_providers())" \
    && /opt/venv/bin/courier serve --help > /dev/null \
    && if /opt/venv/bin/python -c "import torch" 2>/dev/null; then echo "torch must not be in the service image"; exit 1; fi

FROM ${PYTHON_IMAGE}
ARG MODELS=deploy/docker/no-models
RUN groupadd --system --gid 10001 courier \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin courier
COPY --from=build /opt/venv /opt/venv
COPY ${MODELS} /models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COURIER_HOST=0.0.0.0 \
    COURIER_PORT=8000 \
    COURIER_MODEL_REPOSITORY=/models \
    COURIER_PROVIDERS=cpu
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# SIGTERM drains (readiness 503, in-flight work finishes) within COURIER_DRAIN_TIMEOUT_S (30 s): give the
# container a longer stop grace period (docker stop -t 35, compose stop_grace_period, Kubernetes
# terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
