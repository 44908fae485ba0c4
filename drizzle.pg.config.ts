import { defineConfig } from 'drizzle-kit';

// The Postgres dialect's migrations (DATABASE_URL=postgres://…), made with `npm run db:generate` beside
// SQLite's (drizzle.config.ts) and committed; the app applies them at start (src/engine/db/database.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/engine/db/schema-pg.ts',
  out: './drizzle-pg',
});
