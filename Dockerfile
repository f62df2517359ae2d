# mado's image: the web and the worker (compose.yaml runs both from it; the Procfile's commands).
# Non-root, with MeCab's dictionary (unidic-lite) inside: nothing is downloaded when it starts.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md Procfile ./
COPY bot ./bot
COPY flows ./flows
COPY handoff ./handoff
COPY messages_ja ./messages_ja
RUN pip install . \
 # the dictionary, the patterns, the learned model and the machines load here, at build time:
 # proof that everything the conversation needs is inside the image
 && python -c "import flows; flows.warm_up()" \
 && useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin mado

USER mado
ENV PORT=8000
EXPOSE 8000
# the Procfile's web line; compose.yaml's worker service runs `python -m bot.worker` instead
CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:$PORT --workers ${WEB_CONCURRENCY:-1} --worker-class bot.asgi.Worker 'bot.asgi:create_app()'"]
