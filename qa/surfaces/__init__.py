"""The surfaces people and scripts use: the command line (:mod:`qa.surfaces.cli`), batch files
(:mod:`qa.surfaces.batch`) and the web server with the chat, the widget and the HTTP API
(:mod:`qa.surfaces.web`). They call :class:`qa.pipeline.Assistant` and nothing below it
except to describe or build an index.

May import anything in ``qa``; nothing in ``qa`` imports them.
"""
