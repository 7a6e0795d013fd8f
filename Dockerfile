# One image for every `oms` process (writer, topics, ...): `docker compose up` runs them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
RUN pip install . \
    && useradd --system --create-home --uid 10001 oms \
    && mkdir -p /var/lib/oms/state \
    && chown -R oms /var/lib/oms

# Installed as a regular package, the code no longer sits next to schemas/: say where they are.
ENV OMS_SCHEMAS_DIR=/app/schemas/avro \
    OMS_STATE_DIR=/var/lib/oms/state \
    KAFKA_BOOTSTRAP_SERVERS=kafka-1:9092,kafka-2:9092,kafka-3:9092

USER oms
ENTRYPOINT ["oms"]
CMD ["--help"]
