"""The review web UI (server-rendered Starlette + Jinja2)."""
from quarantine.web.app import create_review_app, review_routes

__all__ = ["create_review_app", "review_routes"]
