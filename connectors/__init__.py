"""Provider connectors: one deployable process per provider (BigCommerce, F&O, Flexe, SAP)."""
