-- Checkpoints used to be allowed to stand at a read's visibility horizon,
-- (xmin - 1, max bigint), which is not the position of any row. After a
-- crash PostgreSQL can hand out again the ids of transactions whose WAL never
-- reached disk, so an event committed later could sort behind such a
-- checkpoint and be skipped. Move each such checkpoint back to the last event
-- at or before it: the ids of committed rows survive a crash.
UPDATE {{schema}}.partitions p
   SET tx_id = coalesce(last.tx_id, '0'), position = coalesce(last.position, 0)
  FROM {{schema}}.partitions p2
  LEFT JOIN LATERAL (
      SELECT e.tx_id, e.position FROM {{schema}}.events e
       WHERE (e.tx_id, e.position) <= (p2.tx_id, p2.position)
       ORDER BY e.tx_id DESC, e.position DESC LIMIT 1
  ) last ON true
 WHERE p.subscription = p2.subscription AND p.partition = p2.partition
   AND p2.position = 9223372036854775807;
