"""Monitoring: the Prometheus scrape config and the Grafana dashboards generated from the app's
metric definitions (docker-compose mounts both)."""
