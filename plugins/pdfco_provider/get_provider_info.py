"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

It is what makes the ``pdfco`` connection type appear in the UI's connection form (with the API key field
and the extras below) and lets ``Connection.get_hook()`` return ``PdfCoHook``.
"""

from __future__ import annotations

from typing import Any

from . import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-pdfco",
        "name": "PDF.co",
        "description": "Text extraction with the PDF.co Web API, or with pdfco-local, its self-hosted twin.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "pdfco",
                "hook-class-name": "pdfco_provider.hooks.PdfCoHook",
                "hook-name": "PDF.co",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {"host": "https://api.pdf.co", "password": "your PDF.co API key"},
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (s)",
                        "description": "Per request; a default is always set.",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of 408/429/5xx and connection errors.",
                        "schema": {"type": ["integer", "null"], "default": 4},
                    },
                    "backoff": {
                        "label": "Backoff (s)",
                        "description": "First retry delay, doubled each time, with jitter; Retry-After wins.",
                        "schema": {"type": ["number", "null"], "default": 1},
                    },
                    "max_backoff": {
                        "label": "Max backoff (s)",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                },
            }
        ],
        "hooks": [{"integration-name": "PDF.co", "python-modules": ["pdfco_provider.hooks"]}],
        "operators": [{"integration-name": "PDF.co", "python-modules": ["pdfco_provider.operators"]}],
        "sensors": [{"integration-name": "PDF.co", "python-modules": ["pdfco_provider.sensors"]}],
        "triggers": [{"integration-name": "PDF.co", "python-modules": ["pdfco_provider.triggers"]}],
        "extra-links": ["pdfco_provider.links.PdfCoStoredTextLink"],
        "integrations": [
            {
                "integration-name": "PDF.co",
                "external-doc-url": "https://developer.pdf.co/",
                "tags": ["service"],
            }
        ],
    }
