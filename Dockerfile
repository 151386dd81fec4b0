# LeadCRM: one image for web (gunicorn), the Celery worker, Celery beat and the migrate step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LEADCRM_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, pinned by constraints.txt, so code changes do not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY leadcrm/__init__.py leadcrm/
COPY leads/__init__.py leads/
COPY scoring/__init__.py scoring/
RUN pip install -c constraints.txt .

COPY . .
# Editable, so that manage.py, gunicorn and celery all import the code in /app and nothing else.
# collectstatic only needs the settings to load: it gets a throwaway key, never used at run time.
RUN pip install --no-deps -e . \
    && DEBUG=0 SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
       python manage.py collectstatic --noinput \
    && useradd --system --home-dir /app leadcrm \
    && chown -R leadcrm /app/var

USER leadcrm
EXPOSE 8000
# Workers, worker class, timeouts, max_requests: leadcrm/gunicorn.conf.py (each from the environment).
CMD ["gunicorn", "--config", "leadcrm/gunicorn.conf.py", "leadcrm.wsgi"]
