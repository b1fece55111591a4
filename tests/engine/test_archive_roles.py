"""Reading roles from pg_restore's schema script (pure text; the restore tests run the real thing)."""

from __future__ import annotations

from backup_tui.engine.archive_roles import roles_named, unquote

SCRIPT = '''\
-- Name: s; Type: SCHEMA; Schema: -; Owner: bob
CREATE SCHEMA s;
-- Name: a; Type: TABLE; Schema: public; Owner: Carol Q
ALTER TABLE public.a OWNER TO "Carol Q";
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
'''


def test_owners_grantees_and_policy_roles_are_told_apart() -> None:
    found = roles_named(SCRIPT)
    assert found.owners_and_grantees == {"bob", "Carol Q", "dave", "frank", "grace", "heidi", "ivan"}
    assert found.policy_roles == {"bob", 'Eve "E"'}


def test_identifiers_unquote_as_the_server_reads_them() -> None:
    assert unquote('"Mixed ""Case"""') == 'Mixed "Case"'
    assert unquote("Folded") == "folded"
    assert unquote("'quoted literal'") == "quoted literal"
    assert unquote("PUBLIC") == "PUBLIC"
