"""The serving wing: the HTTP API, the MCP server and the Slack bot over one `Service` (keys,
limits, per-caller permitted views, response models)."""
