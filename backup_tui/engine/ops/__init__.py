"""One module per operation (backup, restore, verify, prune): plan, then run exactly that plan; every
run goes through ``journaled``. ``scratch`` records what a run creates until it is gone."""
