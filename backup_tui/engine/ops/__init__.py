"""One module per operation (backup, restore, verify, prune): a plan (what would happen, its refusal
and exit code), then a run of exactly that plan. Every call takes a ``Context`` (settings, clock,
reporter, cancel token, the catalog) and goes through ``journaled``. ``scratch`` records what a run
creates until it is gone."""
