"""pdfco-local: a self-hosted server that speaks the PDF.co Web API text-extraction contract.

It exists so that the Airflow integration can run offline, in CI and on-premises with exactly the same client
code as against api.pdf.co: only the connection's host and key change. See ``docs/pdfco-local.md``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
