# The gateway as one small image. Build: docker build -t notification-gateway .
# Run: docker run -p 8080:8080 -p 50051:50051 -e GATEWAY_JWT_SECRET=... notification-gateway
# /metrics is on the internal ops port 9090 (not published above); /healthz and /readyz on both.
# Without a JWT key it refuses to listen on 0.0.0.0 unless GATEWAY_INSECURE=1 says so.
FROM python:3.11-slim AS build
# gcc for the project's C extension (gateway/csrc, built by pip wheel below); the build
# stage only: the runtime image gets the compiled wheel and no compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY gateway ./gateway
# Wheels for the project and its pinned runtime dependencies only (no dev tools).
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels notification-gateway \
    && rm -rf /wheels
USER 10001
ENV GATEWAY_HTTP_HOST=0.0.0.0 \
    GATEWAY_GRPC_HOST=0.0.0.0 \
    GATEWAY_OPS_HOST=0.0.0.0 \
    GATEWAY_OPS_PORT=9090 \
    PYTHONUNBUFFERED=1
EXPOSE 8080 50051 9090
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["notification-gateway"]
