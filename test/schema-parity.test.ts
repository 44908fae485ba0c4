import { getTableColumns, getTableName, is, Table } from 'drizzle-orm';
import { getTableConfig as pgConfig } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteConfig } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import * as pgSchema from '../src/engine/db/schema-pg.ts';
import * as sqliteSchema from '../src/engine/db/schema-sqlite.ts';

/** The JavaScript value a column reads back as, whatever the dialect stores. */
function jsKind(c: { dataType: string; columnType: string }): string {
  if (c.dataType === 'json' || c.columnType === 'PgJsonb' || c.columnType === 'SQLiteTextJson') return 'json';
  return c.dataType;
}

function tables(schema: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(schema).filter(([, v]) => is(v, Table)) as [string, Table][]);
}

// The two dialect files define one data model: the same tables, columns, defaults, nullability,
// indexes and foreign keys, read back as the same JavaScript values.
describe('schema parity: SQLite and Postgres', () => {
  const lite = tables(sqliteSchema);
  const pg = tables(pgSchema);

  it('has the same tables under the same export names', () => {
    expect(Object.keys(pg).sort()).toEqual(Object.keys(lite).sort());
    for (const name of Object.keys(lite)) expect(getTableName(pg[name]!)).toBe(getTableName(lite[name]!));
  });

  it('has the same columns, kinds, nullability, defaults and keys in every table', () => {
    for (const name of Object.keys(lite)) {
      const shape = (t: Table) =>
        Object.fromEntries(
          Object.entries(getTableColumns(t)).map(([k, c]) => [
            k,
            { name: c.name, kind: jsKind(c), notNull: c.notNull, hasDefault: c.hasDefault, primary: c.primary, enum: c.enumValues ?? null },
          ]),
        );
      expect({ table: name, columns: shape(pg[name]!) }).toEqual({ table: name, columns: shape(lite[name]!) });
    }
  });

  it('has the same indexes, unique constraints, composite keys and foreign keys in every table', () => {
    for (const name of Object.keys(lite)) {
      const a = sqliteConfig(lite[name] as never);
      const b = pgConfig(pg[name] as never);
      const idx = (list: { config: { name: string; unique: boolean; columns: unknown[] } }[]) =>
        list.map((i) => ({ name: i.config.name, unique: i.config.unique, columns: i.config.columns.map((c) => (c as { name: string }).name) })).sort((x, y) => x.name.localeCompare(y.name));
      expect({ table: name, indexes: idx(b.indexes as never) }).toEqual({ table: name, indexes: idx(a.indexes as never) });
      const fks = (list: { reference: () => { columns: { name: string }[]; foreignTable: Table; foreignColumns: { name: string }[] }; onDelete?: string }[]) =>
        list
          .map((f) => {
            const r = f.reference();
            return { from: r.columns.map((c) => c.name), to: getTableName(r.foreignTable), cols: r.foreignColumns.map((c) => c.name), onDelete: f.onDelete ?? null };
          })
          .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
      expect({ table: name, fks: fks(b.foreignKeys as never) }).toEqual({ table: name, fks: fks(a.foreignKeys as never) });
      const pks = (list: { columns: { name: string }[] }[]) => list.map((p) => p.columns.map((c) => c.name));
      expect({ table: name, pks: pks(b.primaryKeys as never) }).toEqual({ table: name, pks: pks(a.primaryKeys as never) });
    }
  });
});
