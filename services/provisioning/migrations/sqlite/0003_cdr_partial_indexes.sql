-- Rating updates every index of cdr for each record, and index maintenance
-- is most of what rating costs. The customer, DID and gateway indexes serve
-- only `customer_id = ?`, `did_id = ?` and `gateway_id = ?` filters, which a
-- NULL never matches: indexing only the rows that have the column set keeps
-- them as useful to reports (both databases use a partial index for an
-- equality on its column) and spares rating the update for every record
-- without one (most calls reach no DID; unattributed calls have no customer).
DROP INDEX cdr_customer;
CREATE INDEX cdr_customer ON cdr (tenant, customer_id, start_ms) WHERE customer_id IS NOT NULL;
DROP INDEX cdr_did;
CREATE INDEX cdr_did ON cdr (tenant, did_id, start_ms) WHERE did_id IS NOT NULL;
DROP INDEX cdr_gateway;
CREATE INDEX cdr_gateway ON cdr (tenant, gateway_id, start_ms) WHERE gateway_id IS NOT NULL;
