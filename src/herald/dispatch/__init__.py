"""The engine: how a campaign message goes from ``pending`` to a delivery status.

1. **claimed**: ``batch.py`` ``claim_batch`` marks a batch ``claimed`` with a lease under one claim
   (``claim.py`` ``claim_messages``, a ``SendClaim`` row), skips contacts the send-time rules exclude, renders the rest;
2. **paced**: ``sender.py`` ``Sender.wait_turn``, through ``pacer.py`` ``Pacer`` and ``SlidingWindow``
   (the campaign's pace and the number's throughput); a tick before its slot, ``takeoff.py`` raises
   its claim's watermark to it (one statement per tick for every claim due);
3. **sent**: ``sender.py`` ``Sender._send_one`` calls ``whatsapp/client.py``
   ``CloudAPIClient.send_message``; a failure becomes an outcome by ``retry_policy.py`` ``decide``;
4. **recorded**: ``recorder.py`` ``Recorder`` writes the parts of batches its numbers hand in, in
   rounds of one transaction (``repository.py`` ``record_parts``, ``outcomes.py`` ``record_many``);
5. **status applied**: Meta's webhooks, stored by ``webhooks/ingest.py`` and applied by
   ``webhooks/statuses.py`` ``apply_statuses``, fold each status into the message
   (``campaigns/message_state.py``).

A **batch** is the messages one claim takes for one campaign (at most ``batch.MAX_BATCH``): claimed
in one transaction, sent one by one, its outcomes recorded in parts (every half second and with the
last), each part in a round of the recorder with those of the worker's other batches. Nothing else in the engine is called a batch: the webhook applier works in *rounds*, and
the thread that runs the database work is the *database loop*.

What each module owns:

- ``worker.py``: ``herald worker``: the jobs runner, the scheduler tick, the webhook applier, and one
  ``Sender`` per number it holds the lease of (``leases.py``: a renewable lease row, a fair share);
- ``embedded.py``: the same worker inside ``herald serve`` (the SQLite default);
- ``sender.py``: ``Sender``, one number's claiming, pacing, sending and recording, with its pool of
  send loops;
- ``batch.py``: ``Batch`` and ``Outgoing``, and claiming a batch (``claim_batch``);
- ``claim.py``: the claim's SQL, one function per dialect;
- ``context.py``: what a sender knows about a campaign and its number (rate, template, variables);
- ``render.py``: a contact's template variables, or why they cannot be filled;
- ``pacer.py``: GCRA pacing and the sliding second;
- ``takeoff.py``: a claim's watermark raised just before its messages' requests leave, one statement
  per tick;
- ``recorder.py``: the parts of every sender's batches written together, one transaction per round;
- ``retry_policy.py``: what a failed send becomes, a pure function of the error and the attempt;
- ``outcomes.py``: recording outcomes (one statement per kind) and their counters;
- ``repository.py``: the rest of the sender's SQL (a batch's recipients, recording parts of batches);
- ``database_loop.py``: the database work on an event loop of its own thread (``herald worker``
  on PostgreSQL), or inline;
- ``materialize.py``: the audience becomes campaign messages, in keyset chunks (a job);
- ``scheduler.py``: scheduled starts, auto-end, and ``reaper.py`` (a dead sender's ``claimed``
  messages up to their claim's watermark become ``unknown``, the others go back to ``pending``).

See docs/architecture.md for the rules this relies on.
"""
