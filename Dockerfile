# One image for every gridwatch role; the command picks gateway, dispatch or edge.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gridwatch gridwatch
COPY gateway gateway
COPY detectors detectors
COPY dispatch dispatch
COPY edge edge
COPY config config
RUN pip install --no-cache-dir '.[edge,gateway]' \
 && python -m gridwatch.assets fetch yolox_nano.onnx
ENV GRIDWATCH_CONFIG_DIR=/app/config
USER 1000
