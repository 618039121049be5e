-- tries: the issue's SQL door: query_telemetry checked the first word only; a second statement wrote any file, a
-- file function read any file, DuckDB's extensions could reach the network, and the hidden decode lengths of the
-- task's seeds (and of held-out runs) were there to memorise
-- door: sql
-- expect: only one statement per query (2 given)
SELECT 1; COPY (SELECT 'owned') TO '{outside}/glia-was-here.csv'
-- expect: the table function read_text() is not available (files, the network and the database's internals are out of reach); only range, generate_series, unnest
SELECT content FROM read_text('/etc/passwd')
-- expect: the table function read_csv_auto() is not available (files, the network and the database's internals are out of reach); only range, generate_series, unnest
SELECT * FROM read_csv_auto('https://example.com/data.csv')
-- expect: only read-only queries are allowed (SELECT/WITH/DESCRIBE/SUMMARIZE...), got ATTACH
ATTACH '{outside}/other.duckdb' AS other
-- expect: only read-only queries are allowed (SELECT/WITH/DESCRIBE/SUMMARIZE...), got LOAD
INSTALL httpfs
-- expect: only read-only queries are allowed (SELECT/WITH/DESCRIBE/SUMMARIZE...), got SET
SET enable_external_access = true
-- expect: names are unqualified here (no catalog or schema: 'telemetry'); the tables are {tables}
SELECT num_decode_tokens FROM telemetry.main.requests
-- expect: SQL error: Binder Error: Referenced column "num_decode_tokens" not found in FROM clause!
SELECT num_decode_tokens FROM requests
-- expect: count_star()
-- expect: 0
SELECT count(*) FROM requests WHERE run_id = 'held-out'
