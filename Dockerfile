# The Airflow image for this project: the official apache/airflow image plus this distribution
# (the pdfco provider and pdfco-local) and Tesseract for OCR. Everything is installed at build time;
# nothing is fetched when a container starts.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
# pdfco-local's data dir: a new named volume copies this directory's owner, so airflow can write to it.
RUN mkdir -p /var/lib/pdfco-local && chown airflow:root /var/lib/pdfco-local

USER airflow
ARG AIRFLOW_VERSION
COPY --chown=airflow:root pyproject.toml README.md /opt/pdfco/
COPY --chown=airflow:root plugins/pdfco_provider /opt/pdfco/plugins/pdfco_provider
COPY --chown=airflow:root server/pdfco_local /opt/pdfco/server/pdfco_local
# Pin Airflow to the image's version so installing the distribution never upgrades or downgrades it.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/pdfco[server]" \
    && python -c "import pdfco_provider.triggers, pdfco_local.app" \
    && airflow providers list | grep -q airflow-provider-pdfco
