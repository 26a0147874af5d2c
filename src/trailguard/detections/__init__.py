"""The built-in detection catalogue: one module per detection, grouped by log type.

Each module defines ``DETECTION``; its example events live in
``examples/<id>/tp_*`` (must match) and ``fp_*`` (must not) beside it.
"""
