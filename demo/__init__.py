"""The demo: a living snack shop to explore OpsCRM with (`make demo`).

Generated customers with years of history, marketing set up on top of them through the
product's own services, the demo logins, and the runner that starts the site, a Celery
worker and beat. Nothing in the product imports this app.
"""
