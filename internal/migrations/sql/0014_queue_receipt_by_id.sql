-- Receipts carry their message's id (worker/queue/postgres/receipt.go):
-- acks, nacks and extensions find the row by its primary key, so the
-- receipt token needs no index of its own.
DROP INDEX {{schema}}.queue_messages_receipt;
