"""Code shared by the webflow-functions: configuration, the Webflow client, request handling, storage."""
