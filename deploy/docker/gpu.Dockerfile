# Courier embedding service on an NVIDIA GPU: the `serve` and `gpu` extras (onnxruntime-gpu with its CUDA
# and cuDNN wheels), no torch, and COURIER_PROVIDERS=cuda: without a working CUDA provider it refuses to
# start instead of serving on CPU.
#   docker build -f deploy/docker/gpu.Dockerfile -t courier:gpu .
#   docker run --gpus 1 -p 8000:8000 -v "$PWD/models:/models:ro" -e COURIER_MODEL_NAME=courier-demo courier:gpu
# Needs an NVIDIA driver for CUDA 13 (580 or newer) and the NVIDIA container toolkit on the host.
# onnxruntime loads the CUDA and cuDNN libraries of the pinned wheels (onnxruntime.preload_dlls), so they
# always match its build; the CUDA base adds the driver compatibility layer and the container settings
# (a `-base-` tag of the same CUDA release works too and is smaller). Model: mounted at /models, or baked in
# with --build-arg MODELS=models. Lock: deploy/docker/constraints-gpu.txt (resolved for Ubuntu's Python 3.12).
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.12.* python3-venv=3.12.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/docker/constraints-gpu.txt ./
COPY pyproject.toml README.md ./
COPY courier_core ./courier_core
COPY service ./service
# the `courier` console script (`courier serve`, `courier backfill ...`): the standard library only
COPY courier_cli ./courier_cli
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --constraint constraints-gpu.txt ".[serve,gpu]" \
    && /opt/venv/bin/python -c "import service.app, onnxruntime; assert 'CUDAExecutionProvider' in onnxruntime.get_available_providers()" \
    && /opt/venv/bin/courier serve --help > /dev/null \
    && if /opt/venv/bin/python -c "import torch" 2>/dev/null; then echo "torch must not be in the service image"; exit 1; fi

FROM ${CUDA_IMAGE}
ARG MODELS=deploy/docker/no-models
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.12.* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 courier \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin courier
COPY --from=build /opt/venv /opt/venv
COPY ${MODELS} /models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    COURIER_HOST=0.0.0.0 \
    COURIER_PORT=8000 \
    COURIER_MODEL_REPOSITORY=/models \
    COURIER_PROVIDERS=cuda
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
