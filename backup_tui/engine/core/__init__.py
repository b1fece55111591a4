"""Pure: the records (manifest, verifications, plans, runs), the rules that decide (retention, health,
policy, kinds of backup), names, errors and progress events. No I/O, no clock of its own."""
