/**
 * SQL for CHECK constraints over a fixed list of values (kinds, statuses). Not re-exported by the
 * schema's index: it is how tables are written, not a table.
 */
import { sql } from 'drizzle-orm';

/** `'a', 'b', 'c'` for `column in (...)`: the values are our own constants, never input. */
export const inList = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));
