"""Finance dashboards: the assets in bi/ (Superset's export format), the dbt docs they
carry, the login role they read through, and Superset run from its own venv."""
