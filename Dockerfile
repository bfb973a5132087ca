# runqy server image: waitress via `runqy serve`, non-root, health-checked on /healthz.
# Build: docker build -t runqy .   Run: docker run -p 3000:3000 -e REDIS_URL=redis://redis:6379/0 runqy
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY runqy ./runqy
COPY templates ./templates
COPY static ./static
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    RUNQY_INSTANCE_PATH=/data
RUN groupadd --system runqy && useradd --system --gid runqy --home-dir /data runqy \
    && mkdir -p /data && chown runqy:runqy /data && chmod 0700 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "runqy[postgres]" \
    && rm -rf /wheels
USER runqy
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request;urllib.request.urlopen('http://127.0.0.1:%s%s/healthz' % (os.environ.get('PORT','3000'), os.environ.get('RUNQY_URL_PREFIX','')), timeout=2)"
ENTRYPOINT ["runqy"]
CMD ["serve"]
