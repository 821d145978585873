# schoolgate: the SMTP gateway and review UI. Config and data are volumes.
FROM python:3.11-slim
# Pango and a font for WeasyPrint (PDF reports, docs/reports.md)
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/schoolgate schoolgate
WORKDIR /opt/schoolgate
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY filters ./filters
COPY quarantine ./quarantine
COPY config ./config
RUN pip install --no-cache-dir . && mkdir -p /etc/schoolgate /var/lib/schoolgate/data \
    && chown -R schoolgate /var/lib/schoolgate
USER schoolgate
VOLUME ["/etc/schoolgate", "/var/lib/schoolgate/data"]
# 2525 SMTP (map host port 25 to it), 8025 review UI and /metrics
EXPOSE 2525 8025
ENV SCHOOLGATE_CONFIG=/etc/schoolgate/schoolgate.toml
CMD ["schoolgate", "serve", "--config", "/etc/schoolgate/schoolgate.toml"]
