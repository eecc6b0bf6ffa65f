"""One module per tab: layout and wiring only. Each exposes build(registry) and imports no torch."""
