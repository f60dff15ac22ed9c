# EVPower web image: Daphne (or Uvicorn) serving HTTP and station WebSockets on port 8000.
# Static files are collected at build time and served by WhiteNoise.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Settings refuse DEBUG off without a real key; this one exists only for
# the build step and never reaches a running container.
RUN DEBUG=False SECRET_KEY=collectstatic-at-build-time-only-never-used-to-sign-anything-0123456789 \
    python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin evpower

USER evpower
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]

# All interfaces inside the container, but the port is published nowhere:
# only nginx on the compose network reaches it, so the server may trust
# X-Forwarded-For/-Proto (compose sets TRUST_PROXY_HEADERS). bin/asgi-server holds the
# server's options (Daphne by default; ASGI_SERVER=uvicorn).
ENV PYTHON=python
CMD ["sh", "-c", "exec bin/asgi-server 0.0.0.0 \"$PORT\""]
