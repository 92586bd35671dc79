"""Reporting: console tables, the run and comparison reports (HTML, Markdown) and their plots."""
