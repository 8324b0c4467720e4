-- CDR reports: totals over a period (the dashboard's "today", a report's
-- date range) read only this covering index, never the table. SQLite has no
-- INCLUDE: the covered columns are trailing key columns instead.
-- It replaces cdr_start (same leading key), so rating maintains no extra index.
CREATE INDEX cdr_report ON cdr (tenant, start_ms, disposition, gateway_id, customer_id, did_id, billsec, cost, price);
DROP INDEX cdr_start;
