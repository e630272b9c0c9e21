# One image for the web process (`payrecon serve`) and the worker (`payrecon worker`).
# Build stage: resolve nothing, install exactly what requirements.lock pins.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.lock pyproject.toml ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements.lock
COPY payments ./payments
COPY providers ./providers
COPY reconciliation ./reconciliation
RUN /opt/venv/bin/pip install --no-deps .

# Runtime stage: no compiler, no sources beyond the installed package, not root.
FROM python:3.11-slim-bookworm
RUN groupadd --system payrecon && useradd --system --gid payrecon --home-dir /var/lib/payrecon payrecon \
    && mkdir -p /var/lib/payrecon && chown payrecon:payrecon /var/lib/payrecon
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PAYRECON_DATA_DIR=/var/lib/payrecon \
    PAYRECON_SERVER__HOST=0.0.0.0 \
    PAYRECON_SERVER__PORT=8000
USER payrecon
WORKDIR /var/lib/payrecon
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
ENTRYPOINT ["payrecon"]
CMD ["serve"]
