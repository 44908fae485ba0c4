import { defineConfig } from 'drizzle-kit';

// Migrations are generated with `npm run db:generate` after a change to the schema and committed;
// the app applies them at start (src/engine/db/database.ts).
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/engine/db/schema-sqlite.ts',
  out: './drizzle',
});
