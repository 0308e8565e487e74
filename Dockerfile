# syntax=docker/dockerfile:1
# The digest bot: `docker build -t digestbot .`, then see docker-compose.yml.
# Secrets (TELEGRAM_BOT_TOKEN, OPENAI_API_KEY, WEBHOOK_SECRET) come from the
# environment at run time (compose: env_file .env); none is baked into the image.

ARG PYTHON_VERSION=3.11

# --- builder: a venv with the bot and its dependencies -------------------------
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# prompts/ ships inside the package (bot._prompts, see pyproject.toml)
COPY prompts ./prompts
# The same install as CI and the README (there with the [dev] extra): `pip install .`
RUN pip install --no-cache-dir .

# --- runtime: the venv (prompts included), a non-root user ------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOT_DATA_DIR=/data \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    WEBHOOK_LISTEN=0.0.0.0 \
    WEBHOOK_PORT=8080
# Tesseract 5 with the Arabic and English models reads photos, screenshots and scanned
# PDFs (bot/ingest/ocr.py); without it the bot says it cannot read pictures.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-ara tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER bot
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers in both modes (webhook, and polling through serve_health).
# python:slim has no curl: use the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('WEBHOOK_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# `docker stop` sends SIGTERM: the bot drains (up to 25 s) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
