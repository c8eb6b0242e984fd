"""The Airflow plugin entry file: registers the provider's extra link with the UI.

The package itself lives in ``pdfco_provider/`` (listed in ``.airflowignore``, because the plugin manager
would otherwise import every ``.py`` there as a top-level module) and is imported normally.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pdfco_provider.links import PdfCoStoredTextLink


class PdfCoPlugin(AirflowPlugin):
    name = "pdfco"
    operator_extra_links = [PdfCoStoredTextLink()]  # noqa: RUF012 - the plugin manager reads a list
