"""An extra link on the store step: the stored text's folder, when the destination has a web form."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Object stores whose objects have a browser URL: scheme -> URL template of a bucket folder.
WEB_FORMS = {
    "s3": ("https://s3.console.aws.amazon.com/s3/buckets/{bucket}", "?prefix={key}/"),
    "gs": ("https://console.cloud.google.com/storage/browser/{bucket}", "/{key}"),
    "gcs": ("https://console.cloud.google.com/storage/browser/{bucket}", "/{key}"),
}


def web_form(destination: str) -> str:
    """The destination as a URL a browser can open, or ``""`` (local folders have none)."""
    parts = urlsplit(destination, allow_fragments=False)  # "#" is a legal character of an object key
    if parts.scheme in ("http", "https"):
        return destination
    forms = WEB_FORMS.get(parts.scheme)
    if forms is None:
        return ""
    bucket_form, key_form = forms
    bucket = quote(parts.netloc.rsplit("@", 1)[-1], safe="")  # "s3://conn_id@bucket/..." names a connection
    key = parts.path.strip("/")
    if parts.query:
        key += "?" + parts.query
    link = bucket_form.format(bucket=bucket)
    return link + key_form.format(key=quote(key, safe="/")) if key else link


class PdfCoStoredTextLink(BaseOperatorLink):
    name = "Stored text"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return web_form(str(getattr(operator, "destination", "") or ""))
