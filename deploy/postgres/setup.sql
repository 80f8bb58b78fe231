-- Create the griddispatch role, database and schema on a PostgreSQL 14+ server.
-- Run it as a superuser (or a role with CREATEROLE and CREATEDB):
--
--   psql -v password='a long random secret' -f deploy/postgres/setup.sql
--
-- Optional variables: role (default griddispatch), database (default
-- griddispatch), schema (default griddispatch). Running it again changes
-- nothing that exists, but sets the password again. The tables themselves
-- are created by `griddispatch migrate`, connected as the role:
--
--   GRIDDISPATCH_DATABASE_URL=postgresql+asyncpg://griddispatch:SECRET@HOST:5432/griddispatch

\set ON_ERROR_STOP on
\if :{?password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'missing password: run psql with -v password=SECRET'; END $$;
\endif
\if :{?role}
\else
  \set role griddispatch
\endif
\if :{?database}
\else
  \set database griddispatch
\endif
\if :{?schema}
\else
  \set schema griddispatch
\endif

SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';

SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'database', :'role', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec

\connect :"database"

-- The role owns its schema and finds its tables there first. Other roles get
-- nothing in it unless granted.
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"role";
ALTER ROLE :"role" IN DATABASE :"database" SET search_path = :"schema";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
