# Courier backfill on a Ray cluster (deploy/k8s/backfill-rayjob.yaml, `--engine ray`). Based on the official
# Ray GPU image: Ray with the dashboard and job server that a KubeRay RayJob submits through, the tools
# KubeRay's probes run, and the uid-1000 `ray` user. Added: Courier's code with the `serve` and `gpu`
# extras under the GPU lock, resolved together with the image's Ray version (tests/deploy checks that this
# set resolves), so Ray is never replaced.
#   docker build -f deploy/docker/ray.Dockerfile -t courier:ray-gpu .
ARG RAY_VERSION=2.60.0
FROM rayproject/ray:${RAY_VERSION}-py312-gpu
ARG RAY_VERSION
WORKDIR /home/ray/courier
COPY --chown=1000:100 deploy/docker/constraints-gpu.txt pyproject.toml README.md ./
COPY --chown=1000:100 courier_core ./courier_core
COPY --chown=1000:100 service ./service
COPY --chown=1000:100 courier_cli ./courier_cli
RUN pip install --no-cache-dir --disable-pip-version-check --constraint constraints-gpu.txt \
        "ray[default,data]==${RAY_VERSION}" ".[serve,gpu]" \
    && python -c "import service.backfill, onnxruntime; assert 'CUDAExecutionProvider' in onnxruntime.get_available_providers()" \
    && courier backfill --help > /dev/null
USER 1000:100
