"""Self-contained HTML reports (tables, embedded matplotlib figures and images) plus the CSV/JSON
of every number they show."""
from .html_report import HtmlReport, write_csv, write_json

__all__ = ["HtmlReport", "write_csv", "write_json"]
