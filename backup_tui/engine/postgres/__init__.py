"""PostgreSQL: connections (names passed as names, never as connection strings), the pg_dump /
pg_restore / psql runner, what an archive needs of a server, table locks."""
