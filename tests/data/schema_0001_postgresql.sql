-- The schema the build at 3f14b9e created (create_all, postgresql); written by tests/data/old_schemas.py.

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

CREATE TABLE events (
	id BIGSERIAL NOT NULL,
	source_id INTEGER NOT NULL,
	host_id INTEGER NOT NULL,
	channel_id INTEGER NOT NULL,
	provider VARCHAR(255) NOT NULL,
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

CREATE TABLE sessions (
	id SERIAL NOT NULL,
	host_id INTEGER NOT NULL,
	logon_id VARCHAR(64) NOT NULL,
	"user" TEXT NOT NULL,
	logon_type VARCHAR(64) NOT NULL,
	source_ip VARCHAR(64) NOT NULL,
	workstation TEXT NOT NULL,
	auth_package VARCHAR(64) NOT NULL,
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
	process_guid VARCHAR(64),
	image TEXT NOT NULL,
	command_line TEXT NOT NULL,
	cwd TEXT NOT NULL,
	hashes TEXT NOT NULL,
	integrity VARCHAR(64) NOT NULL,
	"user" TEXT NOT NULL,
	creator_user TEXT NOT NULL,
	end_user TEXT NOT NULL,
	logon_id VARCHAR(64) NOT NULL,
	session_id INTEGER,
	start_us BIGINT,
	end_us BIGINT,
	exit_status VARCHAR(32) NOT NULL,
	parent_id INTEGER,
	parent_pid BIGINT,
	parent_image TEXT NOT NULL,
	flags TEXT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(host_id) REFERENCES hosts (id),
	FOREIGN KEY(session_id) REFERENCES sessions (id),
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
