"""Training: rebuilds the shipped reader model from the datasets in ``QA_SHARED_DIR`` and fits
its calibration (``qa train reader``, ``qa train calibrate``). Imports torch and transformers
lazily; nothing at query time imports this package.

May import anything in ``qa``; nothing in ``qa`` but the CLI imports it.
"""
