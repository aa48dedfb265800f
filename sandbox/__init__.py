"""webflow-sandbox: a local server that behaves like the Webflow Data API v2.

Run it with ``python -m sandbox`` or the ``webflow-sandbox`` console script; see
``sandbox/README.md`` for the command line, the control API and the seed file.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
