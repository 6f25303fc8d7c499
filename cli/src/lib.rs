//! The `migration` binary's library: the migration commands (`tenantry_migration::cli`) plus
//! the two that need the service, `tenant export` and `tenant import`.
