"""Parsers, pure: pages to points, CSV texts and JSON results (``points``), to typed columns
(``columns``), to Arrow tables (``arrow``)."""
