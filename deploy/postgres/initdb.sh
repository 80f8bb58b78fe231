#!/bin/sh
# Runs once, when the postgres container initialises an empty data folder:
# creates the griddispatch role, database and schema with setup.sql.
set -eu
psql --username postgres --set password="$GRIDDISPATCH_DB_PASSWORD" --file /opt/griddispatch/setup.sql
