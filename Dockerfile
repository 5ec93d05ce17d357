# The server and worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
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
