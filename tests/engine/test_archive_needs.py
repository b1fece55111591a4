"""Reading what an archive needs from pg_restore's definitions script (pure text; the restore tests run
the real thing)."""

from __future__ import annotations

from backup_tui.engine.postgres.archive_needs import definitions_list, needs_of, unquote

SCRIPT = '''\
-- Name: s; Type: SCHEMA; Schema: -; Owner: bob
CREATE SCHEMA s;
-- Name: a; Type: TABLE; Schema: public; Owner: Carol Q
ALTER TABLE public.a OWNER TO "Carol Q";
-- Name: b; Type: TABLE; Schema: public; Owner: mike; Tablespace: fast
SET default_tablespace = fast;
-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -
-- Name: a p; Type: POLICY; Schema: public; Owner: Carol Q
CREATE POLICY p ON public.a FOR SELECT TO bob, "Eve ""E""" USING ((note = 'GRANT x TO mallory;'));
CREATE POLICY p2 ON public.a USING (true);
CREATE POLICY p3 ON public.a AS RESTRICTIVE TO PUBLIC WITH CHECK (true);
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO dave;
GRANT UPDATE(x) ON TABLE public.a TO "Carol Q" WITH GRANT OPTION;
SET SESSION AUTHORIZATION frank;
GRANT SELECT ON TABLE public.a TO Grace;
RESET SESSION AUTHORIZATION;
ALTER DEFAULT PRIVILEGES FOR ROLE heidi IN SCHEMA public GRANT SELECT ON TABLES  TO ivan;
ALTER ROLE "judy IN DATABASE x" IN DATABASE "Prop Test" SET work_mem TO '5MB';
GRANT CONNECT ON DATABASE "Prop Test" TO kim;
GRANT SELECT ON LARGE OBJECT 4242 TO leo;
CREATE EXTENSION IF NOT EXISTS "Odd-Ext" WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public;
SET default_tablespace = '';
SET default_tablespace = fast_ssd;
'''


def test_owners_grantees_and_policy_roles_are_told_apart() -> None:
    found = needs_of(SCRIPT)
    assert found.owners_and_grantees == {"bob", "Carol Q", "dave", "frank", "grace", "heidi", "ivan",
                                         "judy IN DATABASE x", "kim", "leo", "mike"}
    assert found.policy_roles == {"bob", 'Eve "E"'}


def test_extensions_and_tablespaces() -> None:
    found = needs_of(SCRIPT)
    assert found.extensions == {"Odd-Ext", "hstore"}
    assert found.tablespaces == {"fast", "fast_ssd"}


def test_the_definitions_list_leaves_out_the_rows() -> None:
    toc = f""";
; Selected TOC Entries:
;
3345; 1262 16386 DATABASE - t postgres
215; 1259 16389 TABLE public a alice
3344; 0 16389 TABLE DATA public a alice
3345; 2613 4242 BLOB - 4242 postgres
3346; 0 0 BLOBS - BLOBS{' '}
3357; 0 0 ACL - LARGE OBJECT 4242 postgres
"""
    assert [line.split(";")[0] for line in definitions_list(toc).splitlines()] == ["3345", "215", "3345", "3357"]


def test_identifiers_unquote_as_the_server_reads_them() -> None:
    assert unquote('"Mixed ""Case"""') == 'Mixed "Case"'
    assert unquote("Folded") == "folded"
    assert unquote("'quoted literal'") == "quoted literal"
    assert unquote("PUBLIC") == "PUBLIC"
