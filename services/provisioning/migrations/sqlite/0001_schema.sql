-- Ringside provisioning schema (SQLite). Kept column-for-column in step with
-- ../postgres/0001_schema.sql: the store runs the same SQL on both.
--
-- Conventions:
-- * keys are UUIDs (16-byte BLOB here, UUID in PostgreSQL);
-- * every tenant-owned row carries `tenant` (the tenant's slug, a subject token)
--   and UNIQUE (tenant, id), and references other rows by (tenant, x_id), so the
--   database itself refuses a reference to another tenant's row;
-- * times are BIGINT milliseconds since the Unix epoch (UTC);
-- * money is BIGINT micro-units (1 currency unit = 1,000,000): sums are exact.

CREATE TABLE tenants (
    id BLOB PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'operator', 'viewer')),
    enabled INTEGER NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE pbx_servers (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    name TEXT NOT NULL,
    ami_host TEXT NOT NULL,
    ami_port BIGINT NOT NULL,
    ami_username TEXT NOT NULL,
    ami_secret_enc BLOB NOT NULL,
    tls INTEGER NOT NULL,
    apply_mode TEXT NOT NULL CHECK (apply_mode IN ('file', 'ami')),
    config_dir TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, name),
    UNIQUE (tenant, id)
);

CREATE TABLE customers (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('trunk', 'extension')),
    trunk_ip TEXT,
    channel_limit BIGINT,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, code),
    UNIQUE (tenant, id)
);

CREATE TABLE providers (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    cost_per_minute BIGINT NOT NULL CHECK (cost_per_minute >= 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, name),
    UNIQUE (tenant, id)
);

CREATE TABLE gateways (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    name TEXT NOT NULL,
    provider_id BLOB,
    host TEXT NOT NULL,
    port BIGINT NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    codecs TEXT NOT NULL,
    tech_prefix TEXT NOT NULL,
    reg_username TEXT,
    reg_secret_enc BLOB,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, name),
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, provider_id) REFERENCES providers (tenant, id)
);

CREATE TABLE dids (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    number TEXT NOT NULL UNIQUE,
    provider_id BLOB,
    gateway_id BLOB,
    status TEXT NOT NULL CHECK (status IN ('available', 'allocated', 'blocked')),
    monthly_cost BIGINT NOT NULL CHECK (monthly_cost >= 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, provider_id) REFERENCES providers (tenant, id),
    FOREIGN KEY (tenant, gateway_id) REFERENCES gateways (tenant, id)
);

CREATE TABLE customer_dids (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    customer_id BLOB NOT NULL,
    did_id BLOB NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, customer_id) REFERENCES customers (tenant, id),
    FOREIGN KEY (tenant, did_id) REFERENCES dids (tenant, id)
);

CREATE TABLE routes (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    gateway_id BLOB NOT NULL,
    priority BIGINT NOT NULL,
    tech_prefix TEXT NOT NULL,
    strip_digits BIGINT NOT NULL CHECK (strip_digits >= 0),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, name),
    UNIQUE (tenant, pattern, priority),
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, gateway_id) REFERENCES gateways (tenant, id)
);

-- Extension numbers are unique per PBX; PBX membership is many-to-many
-- (pbx_assignments, default every PBX), so the service checks it.
CREATE TABLE extensions (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    extension TEXT NOT NULL,
    secret_enc BLOB NOT NULL,
    customer_id BLOB,
    caller_id TEXT NOT NULL,
    codecs TEXT NOT NULL,
    max_contacts BIGINT NOT NULL CHECK (max_contacts >= 1),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, id),
    FOREIGN KEY (tenant, customer_id) REFERENCES customers (tenant, id)
);
CREATE INDEX extensions_number ON extensions (tenant, extension);

-- Which PBXs an entity is rendered for. No row for an entity: every PBX of the
-- tenant. `entity` is the event token (gateway, customer, route, did, extension).
CREATE TABLE pbx_assignments (
    tenant TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BLOB NOT NULL,
    pbx_id BLOB NOT NULL,
    PRIMARY KEY (entity, entity_id, pbx_id),
    FOREIGN KEY (tenant, pbx_id) REFERENCES pbx_servers (tenant, id) ON DELETE CASCADE
);
CREATE INDEX pbx_assignments_pbx ON pbx_assignments (tenant, pbx_id);

CREATE TABLE tariffs (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    pattern TEXT NOT NULL,
    description TEXT NOT NULL,
    cost_per_minute BIGINT NOT NULL CHECK (cost_per_minute >= 0),
    price_per_minute BIGINT NOT NULL CHECK (price_per_minute >= 0),
    increment_first BIGINT NOT NULL CHECK (increment_first >= 1),
    increment_next BIGINT NOT NULL CHECK (increment_next >= 1),
    connection_fee BIGINT NOT NULL CHECK (connection_fee >= 0),
    valid_from_ms BIGINT NOT NULL,
    valid_to_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, pattern, valid_from_ms),
    UNIQUE (tenant, id)
);
CREATE INDEX tariffs_pattern ON tariffs (tenant, pattern);

-- Rated call records. No foreign keys: a CDR outlives the customer, DID or
-- gateway it names.
CREATE TABLE cdr (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (slug),
    call_id TEXT NOT NULL,
    pbx TEXT NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    direction TEXT NOT NULL,
    trunk TEXT,
    customer_id BLOB,
    did_id BLOB,
    gateway_id BLOB,
    tariff_id BLOB,
    start_ms BIGINT NOT NULL,
    answer_ms BIGINT,
    end_ms BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    billsec BIGINT NOT NULL,
    billed_seconds BIGINT NOT NULL,
    disposition TEXT NOT NULL,
    hangup_cause TEXT,
    cost BIGINT NOT NULL,
    price BIGINT NOT NULL,
    rated_at_ms BIGINT NOT NULL,
    UNIQUE (tenant, call_id)
);
CREATE INDEX cdr_start ON cdr (tenant, start_ms);
CREATE INDEX cdr_customer ON cdr (tenant, customer_id, start_ms);
CREATE INDEX cdr_gateway ON cdr (tenant, gateway_id, start_ms);
CREATE INDEX cdr_did ON cdr (tenant, did_id, start_ms);

CREATE TABLE audit_log (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor_id BLOB,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id BLOB NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (tenant, at_ms);
CREATE INDEX audit_log_entity ON audit_log (tenant, entity, entity_id);

CREATE TABLE deployments (
    id BLOB PRIMARY KEY,
    tenant TEXT NOT NULL,
    pbx_id BLOB NOT NULL,
    version BIGINT NOT NULL,
    files TEXT NOT NULL,
    diff TEXT NOT NULL,
    author TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    result TEXT NOT NULL,
    UNIQUE (pbx_id, version),
    FOREIGN KEY (tenant, pbx_id) REFERENCES pbx_servers (tenant, id) ON DELETE CASCADE
);
