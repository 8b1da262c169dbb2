#ifndef SELFHEAL_SQLITE_TUNING_H
#define SELFHEAL_SQLITE_TUNING_H

/// Turns off SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS), which Debian's build enables: with them on,
/// every allocation inside SQLite takes a global mutex. Must run before the first connection opens; returns
/// SQLite's result code (SQLITE_MISUSE when SQLite is already initialized, which changes nothing).
/// sqlite3_config is variadic, so Swift cannot call it directly.
int selfheal_sqlite_disable_memory_statistics(void);

#endif
