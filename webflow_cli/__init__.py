"""``webflow-functions``: the command-line tool (sync, schema, export, intake)."""
