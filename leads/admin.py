from .api import admin as api_admin  # noqa: F401  (registers the ApiKey admin)
