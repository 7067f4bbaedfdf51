# One image for every gridwatch role; the command picks gateway, dispatch, deliver or edge.
# Runs as the unprivileged user gridwatch (uid 1000). What it writes lives under
# /var/lib/gridwatch (a volume in docker-compose.yml); the model weights are fetched at
# build time into /opt/gridwatch/cache, which the user reads but need not write.
FROM python:3.11-slim

ARG GRIDWATCH_UID=1000
RUN groupadd --gid ${GRIDWATCH_UID} gridwatch \
 && useradd --uid ${GRIDWATCH_UID} --gid gridwatch --home-dir /var/lib/gridwatch \
      --no-create-home --shell /usr/sbin/nologin gridwatch \
 && install -d -o gridwatch -g gridwatch -m 0750 /var/lib/gridwatch /etc/gridwatch/mqtt

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridwatch gridwatch
COPY gateway gateway
COPY detectors detectors
COPY dispatch dispatch
COPY edge edge
COPY config config

ENV GRIDWATCH_CONFIG_DIR=/app/config \
    GRIDWATCH_CACHE_DIR=/opt/gridwatch/cache \
    HOME=/var/lib/gridwatch \
    PYTHONUNBUFFERED=1
RUN pip install --no-cache-dir '.[edge,gateway]' \
 && python -m gridwatch.assets fetch yolox_nano.onnx \
 && chown -R root:gridwatch /opt/gridwatch/cache \
 && chmod -R g+rX,o-rwx /opt/gridwatch/cache

USER gridwatch
