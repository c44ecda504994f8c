# campaign-exporter container image.
#   docker build -t campaign-exporter .
#   docker run -p 10123:10123 -v $PWD/campaign-exporter.yml:/etc/campaign-exporter/config.yml:ro \
#     campaign-exporter
# The config is read from /etc/campaign-exporter/config.yml; mount secrets as files and
# point the config's *_file keys at them. For `--version` to name what was built:
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t campaign-exporter .

FROM python:3.11-slim-bookworm AS build
ARG REVISION=unknown
ARG BUILD_DATE=unknown
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY exporter ./exporter
RUN printf '{"revision": "%s", "build_date": "%s"}\n' "$REVISION" "$BUILD_DATE" \
      > exporter/build_info.json \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM python:3.11-slim-bookworm
# The books (--storage.path) persist in a volume of their own, owned by the exporter's user.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin exporter \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/campaign-exporter
COPY --from=build /opt/venv /opt/venv
COPY config.example.yaml /etc/campaign-exporter/config.example.yaml
# MALLOC_ARENA_MAX: fewer glibc arenas keep a long-running Python service's RSS flat.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
USER 10001:10001
EXPOSE 10123
# --healthcheck follows the listen address and TLS of the container's own flags.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["campaign-exporter", "--healthcheck"]
VOLUME ["/var/lib/campaign-exporter"]
ENTRYPOINT ["campaign-exporter"]
CMD ["--config.file=/etc/campaign-exporter/config.yml", "--storage.path=/var/lib/campaign-exporter"]
