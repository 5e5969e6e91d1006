# Sextant dashboard + collectors image. Non-root, with a healthcheck.
FROM python:3.11-slim-bookworm

# A container listens on every interface of its own network namespace; the browser's host name must be allowed
# (DNS rebinding): docker run -e SEXTANT_ALLOWED_HOSTS=sextant.example.com ... (localhost and 127.0.0.1 always are).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEXTANT_STORE=/data/store SEXTANT_ADDRESS=0.0.0.0 SEXTANT_PORT=8501

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

# The dashboard through `sextant serve`: the allowed hosts, the identity warnings at start, no external-IP lookup.
# Run the collector (and the actions' scheduled work) with: docker run ... sextant collect --every 5m
CMD ["sextant", "serve"]
