"""``python -m webflow_cli``: the ``webflow-functions`` command."""

import sys

from webflow_cli.app import main

sys.exit(main())
