"""Automatic OPTIONS answers that name the matched route's methods only.

Flask's `Allow` lists the methods of every route the path matches, so OPTIONS
/api/queue-configs/reload advertised the GET, PUT, PATCH and DELETE of
/api/queue-configs/<name>; the OpenAPI document (and schemathesis's allow-header check) says
that path has POST only.
"""

from __future__ import annotations

from flask import Response, request

from runqy.web.flask_sync_cache import RunqyFlask


class RunqyApp(RunqyFlask):
    """runqy's Flask class: RunqyFlask, with OPTIONS answered for the matched route template
    (every view registered on the same rule string)."""

    def make_default_options_response(self) -> Response:
        rule = request.url_rule
        if rule is None:
            return super().make_default_options_response()
        response = self.response_class()
        response.allow.update(self._route_methods().get(rule.rule, ()))
        return response

    def _route_methods(self) -> dict[str, set[str]]:
        methods: dict[str, set[str]] | None = getattr(self, "_methods_by_rule", None)
        if methods is None:
            methods = {}
            for each in self.url_map.iter_rules():
                methods.setdefault(each.rule, set()).update(each.methods or ())
            self._methods_by_rule = methods
        return methods
