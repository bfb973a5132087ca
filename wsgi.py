"""Production WSGI entry point: `waitress-serve wsgi:app` or `gunicorn wsgi:app`.

Configuration comes from the environment (http-api.md section 9). With no Redis configured it
starts the embedded one, so run one process; set REDIS_URL to a real Redis to scale out.
"""

from runqy.web import wsgi_app

app = wsgi_app()
