-- A delivery's visibility moves out of the ready index (issue 12): a claim
-- sets locked_until (and attempts, receipt), none of which any index or
-- index predicate names, so PostgreSQL updates the row in place on its page
-- (a HOT update): no new entries in the primary key and the ready index per
-- delivery, about half the WAL of a claim. available_at keeps meaning when
-- the message may be delivered at all (not-before time, a nack's retry
-- time); a message is deliverable when available_at <= now() and it is not
-- locked (locked_until NULL or past). Extensions and releases are HOT too.
--
-- The price: in-flight messages stay at the head of the ready index, so a
-- dequeue steps over them (heap visits, not index writes). With the usual
-- tens to hundreds in flight per queue that is far cheaper than the index
-- churn it replaces; docs/decisions.md has the figures.
--
-- Fill factor 50 leaves room on each page for the claimed versions of its
-- rows, so claims stay HOT while a page's earlier rows are still live.
--
-- Upgrade: consumers of the previous version read visibility from
-- available_at only; run old and new consumers of one queue side by side
-- and a message claimed by a new one may be delivered again by an old one
-- (at-least-once still holds). Stop old consumers before new ones start.
ALTER TABLE {{schema}}.queue_messages ADD COLUMN locked_until timestamptz;
ALTER TABLE {{schema}}.queue_messages SET (fillfactor = 50);
-- Messages in flight now: their visibility end becomes the lock (their
-- available_at stays, so nothing becomes deliverable sooner).
UPDATE {{schema}}.queue_messages SET locked_until = available_at
    WHERE receipt IS NOT NULL AND acked_at IS NULL AND dead_at IS NULL;
