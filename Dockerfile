# syntax=docker/dockerfile:1
# SARA's image: the API and UI (`sara serve`), the CLI and the MLflow server it uses. Built with
# `--build-arg SARA_EXTRAS=airflow` it also runs Airflow and SARA's DAG. Every Python package
# is pinned by constraints.txt, the base image by tag.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SARA_EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/sara
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY sara/ sara/
COPY data/ data/
COPY pipeline/ pipeline/
COPY tools/ tools/
COPY assistant/ assistant/
COPY api/ api/
COPY ui/ ui/
COPY evals/ evals/
COPY benchmarks/ benchmarks/
COPY monitoring/ monitoring/
RUN /opt/sara/bin/pip install --constraint constraints.txt ".${SARA_EXTRAS:+[${SARA_EXTRAS}]}" \
    && /opt/sara/bin/pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="SARA" \
      org.opencontainers.image.description="Student Academic Risk Assistant" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sara \
    && useradd --system --uid 10001 --gid sara --home-dir /home/sara --create-home sara \
    && mkdir -p /sara /mlflow /opt/airflow \
    && chown sara:sara /sara /mlflow /opt/airflow
COPY --from=build /opt/sara /opt/sara
ENV PATH=/opt/sara/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SARA_HOME=/sara \
    SARA_HOST=0.0.0.0 \
    SARA_PORT=8000 \
    SARA_LOG_FORMAT=json
WORKDIR /home/sara
USER sara
VOLUME ["/sara"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('SARA_PORT', '8000')}/health\", timeout=4)"]
CMD ["sara", "serve"]
