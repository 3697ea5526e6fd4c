"""Pure domain logic of corners: event schema, validation and the fit model (polars only)."""
