-- The schema the build at 19f563f created (create_all, postgresql); written by tests/data/old_schemas.py.

CREATE TABLE baselines (
	id SERIAL NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (name)
);

CREATE TABLE case_meta (
	key VARCHAR(64) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (key)
);

CREATE TABLE channels (
	id SERIAL NOT NULL,
	key VARCHAR(255) NOT NULL,
	name VARCHAR(255) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (key)
);

CREATE TABLE hosts (
	id SERIAL NOT NULL,
	key VARCHAR(255) NOT NULL,
	name VARCHAR(255) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (key)
);

CREATE TABLE sources (
	id SERIAL NOT NULL,
	path TEXT NOT NULL,
	member TEXT NOT NULL,
	sha256 VARCHAR(64) NOT NULL,
	size BIGINT NOT NULL,
	format VARCHAR(32) NOT NULL,
	parser VARCHAR(32) NOT NULL,
	started_us BIGINT NOT NULL,
	finished_us BIGINT,
	status VARCHAR(16) NOT NULL,
	records_read BIGINT NOT NULL,
	events_stored BIGINT NOT NULL,
	duplicates BIGINT NOT NULL,
	skipped BIGINT NOT NULL,
	skip_reasons TEXT NOT NULL,
	error TEXT,
	PRIMARY KEY (id)
);

CREATE INDEX ix_sources_sha256 ON sources (sha256);

CREATE TABLE anomalies (
	id SERIAL NOT NULL,
	host_id INTEGER NOT NULL,
	channel_id INTEGER,
	kind VARCHAR(32) NOT NULL,
	start_us BIGINT,
	end_us BIGINT,
	event_pk BIGINT,
	detail TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id),
	FOREIGN KEY(channel_id) REFERENCES channels (id)
);

CREATE TABLE baseline_entries (
	id SERIAL NOT NULL,
	baseline_id INTEGER NOT NULL,
	host TEXT NOT NULL,
	image TEXT NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_baseline_entry UNIQUE (baseline_id, host, image),
	FOREIGN KEY(baseline_id) REFERENCES baselines (id) ON DELETE CASCADE
);

CREATE TABLE events (
	id BIGSERIAL NOT NULL,
	source_id INTEGER NOT NULL,
	host_id INTEGER NOT NULL,
	channel_id INTEGER NOT NULL,
	provider TEXT NOT NULL,
	event_id INTEGER NOT NULL,
	record_id BIGINT NOT NULL,
	ts_us BIGINT,
	ts_key BIGINT NOT NULL,
	received_us BIGINT,
	kind VARCHAR(32),
	data TEXT NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_events_natural UNIQUE (host_id, channel_id, record_id, ts_key, event_id),
	FOREIGN KEY(source_id) REFERENCES sources (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id),
	FOREIGN KEY(channel_id) REFERENCES channels (id)
);

CREATE INDEX ix_events_host_ts ON events (host_id, ts_us);

CREATE INDEX ix_events_kind_host_ts ON events (kind, host_id, ts_us);

CREATE INDEX ix_events_source_id ON events (source_id);

CREATE TABLE findings (
	id SERIAL NOT NULL,
	target VARCHAR(16) NOT NULL,
	host_id INTEGER NOT NULL,
	anchor_event BIGINT,
	pid BIGINT,
	logon_id TEXT NOT NULL,
	image TEXT NOT NULL,
	severity VARCHAR(16) NOT NULL,
	note TEXT NOT NULL,
	source TEXT NOT NULL,
	author TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	rule_id TEXT NOT NULL,
	tags TEXT NOT NULL,
	time_us BIGINT,
	PRIMARY KEY (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id)
);

CREATE INDEX ix_findings_kind ON findings (kind);

CREATE TABLE sessions (
	id SERIAL NOT NULL,
	host_id INTEGER NOT NULL,
	logon_id TEXT NOT NULL,
	"user" TEXT NOT NULL,
	logon_type TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	workstation TEXT NOT NULL,
	auth_package TEXT NOT NULL,
	elevated BOOLEAN NOT NULL,
	start_us BIGINT,
	end_us BIGINT,
	logon_event BIGINT,
	logoff_event BIGINT,
	flags TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id)
);

CREATE INDEX ix_sessions_host_logon ON sessions (host_id, logon_id);

CREATE TABLE processes (
	id SERIAL NOT NULL,
	host_id INTEGER NOT NULL,
	pid BIGINT NOT NULL,
	process_guid TEXT,
	image TEXT NOT NULL,
	command_line TEXT NOT NULL,
	cwd TEXT NOT NULL,
	hashes TEXT NOT NULL,
	integrity TEXT NOT NULL,
	"user" TEXT NOT NULL,
	creator_user TEXT NOT NULL,
	end_user TEXT NOT NULL,
	logon_id TEXT NOT NULL,
	session_id INTEGER,
	start_us BIGINT,
	end_us BIGINT,
	exit_status TEXT NOT NULL,
	parent_id INTEGER,
	parent_pid BIGINT,
	parent_image TEXT NOT NULL,
	flags TEXT NOT NULL,
	token_changes TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id),
	FOREIGN KEY(session_id) REFERENCES sessions (id) DEFERRABLE INITIALLY DEFERRED,
	FOREIGN KEY(parent_id) REFERENCES processes (id) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX ix_processes_host_pid ON processes (host_id, pid);

CREATE INDEX ix_processes_parent ON processes (parent_id);

CREATE INDEX ix_processes_session ON processes (session_id);

CREATE TABLE process_sources (
	process_id INTEGER NOT NULL,
	event_pk BIGINT NOT NULL,
	role VARCHAR(8) NOT NULL,
	PRIMARY KEY (process_id, event_pk),
	FOREIGN KEY(process_id) REFERENCES processes (id),
	FOREIGN KEY(event_pk) REFERENCES events (id)
);

CREATE INDEX ix_process_sources_event ON process_sources (event_pk);
