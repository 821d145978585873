# schoolgate: the SMTP gateway and review UI. Config and data are volumes; no secrets in the image.
#   docker build -t schoolgate .      (docker-compose.yml adds clamd and, optionally, PostgreSQL)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY filters ./filters
COPY quarantine ./quarantine
COPY config ./config
# the wheel, as a school installs it (tests/test_packaging.py checks what it carries)
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
# Pango and a font for WeasyPrint (PDF reports, docs/reports.md)
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/schoolgate schoolgate
COPY --from=build /wheels /wheels
# [postgres]: the driver for [quarantine] database_url = "postgresql+psycopg://..." (several nodes)
RUN pip install --no-cache-dir "$(ls /wheels/schoolgate-*.whl)[postgres]" && rm -rf /wheels \
    && mkdir -p /etc/schoolgate /var/lib/schoolgate/data && chown -R schoolgate /var/lib/schoolgate
USER schoolgate
WORKDIR /var/lib/schoolgate
VOLUME ["/etc/schoolgate", "/var/lib/schoolgate/data"]
# 25 SMTP (a non-root user may bind it: Docker sets net.ipv4.ip_unprivileged_port_start=0
# in the container), 8025 review UI, /metrics and /healthz
EXPOSE 25 8025
ENV SCHOOLGATE_CONFIG=/etc/schoolgate/schoolgate.toml PYTHONUNBUFFERED=1
# /healthz answers 503 naming the failing part (clamd, store, next hop); urllib raises on it
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=8)"]
# The container's own addresses, and the data volume for the store when the site file
# sets no [quarantine] path; the site file says everything else (contrib/docker/schoolgate.toml)
CMD ["schoolgate", "serve", "--config", "/etc/schoolgate/schoolgate.toml", \
     "--listen", "0.0.0.0:25", "--web-listen", "0.0.0.0:8025", "--data-dir", "/var/lib/schoolgate/data"]
