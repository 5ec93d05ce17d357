# The server and worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Every interface of the container. Plaintext there is refused at start: give the server a
# certificate (GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE) or set GRPC_ALLOW_PLAINTEXT=true behind
# a proxy on a private network (docker-compose.yml does the latter).
ENV GRPC_HOST=0.0.0.0
COPY pyproject.toml README.md alembic.ini ./
COPY server ./server
COPY workers ./workers
COPY migrations ./migrations
COPY sdk ./sdk
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 coderai
USER coderai
EXPOSE 50051
CMD ["coderai", "serve"]
