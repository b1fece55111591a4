"""Where backups live and what is kept beside them: repositories behind one protocol, the catalog that
merges them, locks, the journal. Everything read here is untrusted input: paths come from the layout
(``paths.inside``), records are validated (``core.manifest``)."""
