"""The web server: the Gradio chat and widget (:mod:`qa.surfaces.web.ui`) and the HTTP API,
live reload and admission control (:mod:`qa.surfaces.web.app`)."""
