"""Apache Airflow provider for the PDF.co Web API (and pdfco-local): hook, operators, sensor, trigger."""

__version__ = "0.1.0"
