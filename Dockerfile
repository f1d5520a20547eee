# The bot as a container: the wheel built in one stage, installed in a slim image that runs as a
# non-root user. Used by compose.yaml beside the official PostgreSQL image (see the README).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY standin ./standin
COPY cogs ./cogs
COPY db ./db
COPY sql ./sql
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONCLAVE_CONFIG=/config/conclave.toml \
    CONCLAVE_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib
# Fonts for names in other scripts and emoji on rank cards (bot/ui/text.py falls back to them after the
# DejaVu Sans matplotlib ships): WenQuanYi Micro Hei (CJK and Hangul, ~5 MB), Noto (Indic, Thai,
# Ethiopic, Arabic, Hebrew and more, ~42 MB), Noto Color Emoji (~11 MB); libraqm (with FriBiDi and
# HarfBuzz) lets Pillow lay Arabic and Hebrew out right to left and set marks on their letters.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei fonts-noto-core fonts-noto-color-emoji \
       libraqm0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --system --create-home --uid 10001 conclave \
    && mkdir -p /data /config && chown conclave:conclave /data
USER conclave
WORKDIR /home/conclave
VOLUME ["/data"]
# SIGTERM: the bot stops taking work, flushes every buffer and exits within 10 s.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
