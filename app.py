"""Development entry point: `flask --app app run --debug`.

Same configuration as `runqy serve` (environment and .env; embedded Redis when none is set).
Production uses `runqy serve` or wsgi.py.
"""

from runqy.web import wsgi_app

app = wsgi_app()
