"""REST API (FastAPI): thin routes over the tool registry."""
