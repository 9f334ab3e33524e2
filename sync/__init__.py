"""Everything that talks to CouchDB: client, embedded server, bootstrap, worker and merge logic."""
