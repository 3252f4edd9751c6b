"""The audit's stages, one package each (efficiency, explanations, attention), and
the runner that calls them in order over one AuditContext."""
