"""The central server: ingest, hall state, alert engine, reports, web pages and API (``docs/server.md``)."""
