"""The development entry point in the checkout: `flask --app wsgi ...` (the Makefile).

An installed LeadForm needs no file: `gunicorn 'leadform:create_app()'`, `flask --app leadform`.
"""

from leadform import create_app

app = create_app()
