"""The service layer: every operation's rules, ordering and validation, free of Flask.

The REST API, the dashboard, the metrics collector and the operator CLI call these modules;
they raise the domain exceptions of :mod:`runqy.core.errors`, never HTTP ones.
"""
