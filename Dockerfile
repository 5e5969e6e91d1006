# Sextant dashboard + collectors image. Non-root, with a healthcheck.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEXTANT_STORE=/data/store

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY pyproject.toml sextant_cli.py ./
COPY sextant/ sextant/
COPY collectors/ collectors/
COPY actions/ actions/
COPY dashboard/ dashboard/
COPY pages/ pages/
# The packages importable from anywhere (streamlit runs dashboard/app.py with only dashboard/ on its path).
RUN pip install --no-cache-dir --no-deps .
# Only Streamlit's config: a local .streamlit/secrets.toml (OIDC secrets) must never land in an image layer.
COPY .streamlit/config.toml .streamlit/config.toml

RUN useradd --create-home --uid 10001 sextant && mkdir -p /data && chown sextant /data
# Numeric, so that Kubernetes' runAsNonRoot can verify it (hadolint DL3066).
USER 10001
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

# The dashboard; run the collector with: docker run ... python -m collectors run --every 5m
CMD ["streamlit", "run", "dashboard/app.py", "--server.port=8501", "--server.address=0.0.0.0"]
