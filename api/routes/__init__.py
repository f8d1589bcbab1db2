"""The app's routers: thin functions that call a tool through the caller dependency."""
