"""``[core] hostname_callable`` for the Celery workers of ``test_celery_run.py``.

Both workers run on one machine, so the FQDN Airflow records on a task instance by default would not tell
them apart; each worker process is started with ``PDFCO_WORKER_NAME`` set to its own name instead.
"""

from __future__ import annotations

import os


def get() -> str:
    return os.environ["PDFCO_WORKER_NAME"]
