-- Every lease of a one-instance installation has the same owner, so an index on owner only
-- misleads: SQLite, which keeps no statistics, chose it for "owner = $1 AND name IN (...)"
-- and read all 100,000 leases to record one second's polls. Statements by owner (the
-- heartbeat's renewal, a release at shutdown) touch most rows anyway and scan the table.
DROP INDEX source_leases_owner;
