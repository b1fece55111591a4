"""The engine: everything both faces (the terminal app, the headless runner) do, and nothing they show.

Layers, one direction only (``lint-imports`` holds it):

    devtools  ->  ops  ->  storage  ->  stream | postgres  ->  config  ->  core

Where a change goes:
- a rule that decides (retention, health, what may be pinned, a kind of backup): ``core``, pure,
  tested without I/O, with the clock passed in;
- a new place to keep backups (S3): ``storage``, one module implementing ``Repository``;
- a new stage the bytes flow through (encryption) or a new sink: ``stream``;
- a new question asked of a server or a tool run: ``postgres``;
- a new operation: ``ops``, a plan (what would happen, its refusal and exit code) and a run of that
  plan, recorded in the journal by ``ops.journaled``;
- the front ends only call ``ops`` and show what comes back.
"""
